/**
 * The byte budget of partly received frames, across all connections (docs/LIMITS.md). Each
 * connection reports how many bytes of unfinished frames it holds after every read; when the
 * total goes over the budget, the connection holding the most is closed: the worst offender, and
 * never a peer sending ordinary records (a few KB each). One connection alone may hold at most a
 * whole maximal frame, which the frame cap already guarantees.
 * @module
 */

/**
 * Default total of partly received frames: 64 MiB, six maximal (10 MiB) frames at once. Real
 * frames are records of 1-30 KB and code files of up to 270 KB, so honest peers never come near.
 * The bytes live outside the V8 heap (ArrayBuffers) but count toward the process's memory: 60
 * trickled 10 MiB frames held 771 MB before this bound.
 */
export const DEFAULT_RECEIVE_BUDGET_BYTES = 64 * 1024 * 1024;

/** What the budget needs from a connection. */
export interface BudgetedConnection {
  close(reason: string): void;
}

/** Tracks buffered bytes per connection and closes the largest holder when over budget. */
export class ReceiveBudget<C extends BudgetedConnection> {
  readonly #limit: number;
  readonly #held = new Map<C, number>();
  #total = 0;

  constructor(limitBytes = DEFAULT_RECEIVE_BUDGET_BYTES) {
    if (!(limitBytes > 0)) throw new RangeError(`receive budget must be positive: ${limitBytes}`);
    this.#limit = limitBytes;
  }

  /** Bytes held in all. */
  get total(): number {
    return this.#total;
  }

  /** `conn` now holds `bytes` of unfinished frames (0 when it has none or closed). */
  update(conn: C, bytes: number): void {
    this.#total += bytes - (this.#held.get(conn) ?? 0);
    if (bytes > 0) this.#held.set(conn, bytes);
    else this.#held.delete(conn);
    while (this.#total > this.#limit) {
      let worst: C | undefined;
      let most = -1;
      for (const [c, n] of this.#held) {
        if (n > most) {
          worst = c;
          most = n;
        }
      }
      if (worst === undefined) break;
      this.update(worst, 0);
      worst.close(`receive budget full: it held the most unfinished frame bytes (${most})`);
    }
  }
}
