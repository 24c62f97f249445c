/**
 * The one error type the stores throw for bad input, unusable files and broken invariants.
 * @module
 */

/** A store refused an operation; `message` says which file or value and what to do. */
export class StoreError extends Error {
  /** @param message human-readable cause, naming the file or value involved */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}
