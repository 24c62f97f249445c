/**
 * Typed access to the first elements of a list in tests, for `noUncheckedIndexedAccess`:
 * `const [a, b] = take(list, 2)` gives two defined values or fails the test.
 * @module
 */

/** A tuple of `N` elements of type `T`. */
export type Tuple<T, N extends number, R extends T[] = []> = R["length"] extends N ? R
  : Tuple<T, N, [...R, T]>;

/** The first `n` elements of `xs` as a tuple; throws (failing the test) when `xs` has fewer. */
export function take<T, N extends number>(xs: readonly T[], n: N): Tuple<T, N> {
  if (xs.length < n) throw new RangeError(`expected at least ${n} elements, got ${xs.length}`);
  return xs.slice(0, n) as Tuple<T, N>;
}
