/**
 * A bounded set that forgets its least recently added keys: the dedupe cache in front of the
 * database, so a burst of re-sent records never reaches SQLite and memory stays flat.
 * @module
 */

/** Set of at most `capacity` strings; adding beyond it evicts the oldest. */
export class LruSet {
  readonly #items = new Set<string>();
  readonly #capacity: number;

  /** @param capacity most keys kept (at least 1) */
  constructor(capacity: number) {
    this.#capacity = Math.max(1, Math.floor(capacity));
  }

  /** True when `key` was added and not yet evicted. */
  has(key: string): boolean {
    return this.#items.has(key);
  }

  /** Add `key` (refreshing it when present). */
  add(key: string): void {
    // Delete first so a re-added key moves to the young end of the insertion order.
    this.#items.delete(key);
    this.#items.add(key);
    if (this.#items.size > this.#capacity) {
      this.#items.delete(this.#items.values().next().value!);
    }
  }

  /** Number of keys held. */
  get size(): number {
    return this.#items.size;
  }
}
