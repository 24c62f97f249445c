/**
 * The node's error vocabulary, a leaf any part may import:
 *
 * - {@link UserError}: the one user-facing base class. Its message is written for the person
 *   running the node and says what to do next; the CLI prints it without a stack trace. Config,
 *   store, lock and training-setup errors extend it.
 * - Built-in `TypeError`, `RangeError` (and the other built-ins) for caller bugs: a programmer
 *   error, never an expected condition.
 * - {@link safetyCatch}: the one way to swallow an expected failure (a peer reset, a file already
 *   gone) without also swallowing a bug. Modelled on hypercore's `safety-catch`.
 * @module
 */
import { AssertionError } from "node:assert";

/** An error whose message is already written for the user (what went wrong, what to do next). */
export class UserError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * True for errors that mean a bug in this program rather than a condition of the world:
 * the built-in error classes a correct program does not throw at run time, and failed
 * assertions (`node:assert`).
 */
export function isProgrammerError(e: unknown): boolean {
  return e instanceof TypeError || e instanceof ReferenceError || e instanceof RangeError ||
    e instanceof SyntaxError || e instanceof EvalError || e instanceof URIError ||
    e instanceof AssertionError;
}

/**
 * Swallow an expected failure; rethrow a programmer error ({@link isProgrammerError}), so a bug
 * is never lost in a `catch` that was meant for I/O. Use where a failure is fine to ignore:
 *
 * ```ts
 * try {
 *   conn.close();
 * } catch (e) {
 *   safetyCatch(e); // closed by the peer already
 * }
 * await Deno.remove(tmp).catch(safetyCatch);
 * ```
 *
 * Not for code whose expected failure is itself a built-in error (`JSON.parse` of untrusted
 * text throws `SyntaxError`, `new URL` a `TypeError`, `ChildProcess.kill` after exit a
 * `TypeError`): handle those by their class where they happen.
 */
export function safetyCatch(e: unknown): void {
  if (isProgrammerError(e)) throw e;
}

/** The message of an error, or the text of anything else thrown, for logs and reasons. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
