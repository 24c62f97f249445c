/**
 * Shared-memory layout between {@link WalCheckpointer} and its worker: one `Int32Array` of
 * {@link CONTROL_WORDS} words, indexed by {@link Control}.
 * @module
 */

/** Word indexes of the control array. */
export const Control = {
  /** Incremented by the writer for each request (and to wake the worker to stop). */
  Requests: 0,
  /** 1 from a request until the worker has run its checkpoint. */
  Busy: 1,
  /** Set to 1 by the writer: the worker closes its connection and exits. */
  Stop: 2,
  /** The worker's {@link State}. */
  State: 3,
  /** Checkpoints the worker has completed. */
  Done: 4,
} as const;

/** Number of words in the control array. */
export const CONTROL_WORDS = 5;

/** Life of the worker, in {@link Control.State}. */
export const State = {
  Starting: 0,
  Ready: 1,
  /** Connection closed, thread ending (stopped or idle). */
  Exited: 2,
  /** The database could not be opened or prepared there. */
  Failed: 3,
} as const;

/** The message that starts the worker. */
export interface CheckpointerStart {
  /** SQLite file whose WAL the worker checkpoints. */
  path: string;
  /** Backing buffer of the control array. */
  control: SharedArrayBuffer;
  /** The worker exits after this long without a request. */
  idleMs: number;
}
