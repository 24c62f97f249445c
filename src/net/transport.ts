/**
 * TCP at the edge of the network: the accept loop of the listening socket and outbound dials
 * with a timeout, all abortable at shutdown.
 * @module
 */

/** What the accept loop asks its owner. */
export interface AcceptOwner {
  /** True once shutting down: the loop ends. */
  closed(): boolean;
  /** True when no more connections are wanted: new ones are closed at once. */
  full(): boolean;
  adopt(conn: Deno.TcpConn): void;
}

/** Accept connections until the listener closes. */
export async function acceptLoop(listener: Deno.TcpListener, owner: AcceptOwner): Promise<void> {
  for (;;) {
    let conn: Deno.TcpConn;
    try {
      conn = await listener.accept();
    } catch (e) {
      if (owner.closed() || e instanceof Deno.errors.BadResource) return;
      // Out of file descriptors and the like: back off a little instead of spinning.
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    if (owner.closed() || owner.full()) {
      try {
        conn.close();
      } catch { /* gone already */ }
      continue;
    }
    owner.adopt(conn);
  }
}

/** Outbound TCP dials with a timeout; {@link Dialer.abortAll} cancels those in flight. */
export class Dialer {
  readonly #timeoutMs: number;
  readonly #aborts = new Set<AbortController>();

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Connect to `host:port`; rejects with Deno's error when the dial fails or times out. */
  async dial(host: string, port: number): Promise<Deno.TcpConn> {
    const abort = new AbortController();
    this.#aborts.add(abort);
    const timer = setTimeout(() => abort.abort(), this.#timeoutMs);
    try {
      return await Deno.connect({ hostname: host, port, signal: abort.signal });
    } finally {
      clearTimeout(timer);
      this.#aborts.delete(abort);
    }
  }

  /** Abort every dial in flight (shutdown). */
  abortAll(): void {
    for (const a of this.#aborts) a.abort();
  }
}
