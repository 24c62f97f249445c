/**
 * The one error type the stores throw for bad input, unusable files and broken invariants.
 * @module
 */
import { UserError } from "../errors.ts";

/**
 * A store refused an operation; `message` says which file or value and what to do
 * (user-facing: a {@link UserError}).
 */
export class StoreError extends UserError {
  /** @param message human-readable cause, naming the file or value involved */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
