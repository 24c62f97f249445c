/**
 * TCP at the edge of the network: the accept loop of the listening socket, and outbound dials
 * with a timeout, abortable at shutdown, whose failures are classified, logged and remembered
 * per address.
 * @module
 */
import { type Logger, nullLogger } from "../ops/log.ts";
import type { DialErrorKind } from "../node_types.ts";
import { errorText, safetyCatch } from "../errors.ts";

/** What the accept loop asks its owner. */
export interface AcceptOwner {
  /** True once shutting down: the loop ends. */
  closed(): boolean;
  /** Whether to take a connection from `host` (it may make room by evicting another). */
  admit(host: string): boolean;
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
    if (owner.closed() || !owner.admit((conn.remoteAddr as Deno.NetAddr).hostname)) {
      try {
        conn.close();
      } catch (e) {
        safetyCatch(e); // gone already
      }
      continue;
    }
    owner.adopt(conn);
  }
}

export type { DialErrorKind };

/** A failed dial: the address, why (readable), the kind and when (ms since the epoch). */
export interface DialFailure {
  address: string;
  error: string;
  kind: DialErrorKind;
  at: number;
}

/** A dial failed for a reason outside this program (the peer, the network, DNS). */
export class DialError extends Error {
  readonly kind: DialErrorKind;

  constructor(kind: DialErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DialError";
    this.kind = kind;
  }
}

/** An IPv4 or IPv6 literal: no name lookup happens for these. */
const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$/;

/**
 * Classify what `Deno.connect` threw, by error class. Deno 2 reports a failed name lookup as a
 * plain `Error` with no class or code, so that case is recognised structurally: a host name (not
 * an IP literal) and an error of no `Deno.errors` class.
 */
export function classifyDialError(e: unknown, host: string): DialErrorKind {
  if (e instanceof Deno.errors.ConnectionRefused) return "refused";
  if (e instanceof Deno.errors.TimedOut) return "timeout";
  if (e instanceof Deno.errors.NetworkUnreachable) return "unreachable";
  const classed = Object.values(Deno.errors).some((cls) => e instanceof cls);
  if (e instanceof Error && e.constructor === Error && !classed && !IP_LITERAL.test(host)) {
    return "dns";
  }
  return "other";
}

const KIND_TEXT: Record<DialErrorKind, string> = {
  dns: "name lookup failed",
  refused: "connection refused (nothing listens there)",
  timeout: "no answer in time",
  unreachable: "network unreachable",
  other: "dial failed",
};

/**
 * Dial failures remembered, one per address. Addresses come from the peer book (itself
 * bounded); this cap only keeps a misbehaving caller from growing memory.
 */
const MAX_FAILURES = 2048;

/** Outbound TCP dials with a timeout; {@link Dialer.abortAll} cancels those in flight. */
export class Dialer {
  readonly #timeoutMs: number;
  readonly #log: Logger;
  readonly #aborts = new Set<AbortController>();
  readonly #failures = new Map<string, DialFailure>();
  #closed = false;

  constructor(timeoutMs: number, log: Logger = nullLogger) {
    this.#timeoutMs = timeoutMs;
    this.#log = log;
  }

  /**
   * Connect to `host:port` (known as `address`).
   * @throws {DialError} when the dial fails or times out (logged and remembered first).
   */
  async dial(address: string, host: string, port: number): Promise<Deno.TcpConn> {
    const abort = new AbortController();
    this.#aborts.add(abort);
    const timer = setTimeout(
      () => abort.abort(new Deno.errors.TimedOut(`no connection after ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
    try {
      const conn = await Deno.connect({ hostname: host, port, signal: abort.signal });
      this.#failures.delete(address);
      return conn;
    } catch (e) {
      safetyCatch(e);
      throw this.#failed(address, host, e);
    } finally {
      clearTimeout(timer);
      this.#aborts.delete(abort);
    }
  }

  /**
   * The last failed dial of every address whose latest dial failed (an address leaves the list
   * when a dial to it succeeds), oldest first.
   */
  failures(): DialFailure[] {
    return [...this.#failures.values()];
  }

  /** Abort every dial in flight (shutdown). */
  abortAll(): void {
    this.#closed = true;
    for (const a of this.#aborts) a.abort();
  }

  #failed(address: string, host: string, e: unknown): DialError {
    const kind = classifyDialError(e, host);
    const detail = errorText(e);
    const error = `${KIND_TEXT[kind]}: ${detail}`.slice(0, 300);
    if (this.#closed) return new DialError(kind, error, { cause: e }); // our own abort
    this.#failures.delete(address); // re-insert: most recent last, for trimming
    this.#failures.set(address, { address, error, kind, at: Date.now() });
    for (const old of this.#failures.keys()) {
      if (this.#failures.size <= MAX_FAILURES) break;
      this.#failures.delete(old);
    }
    this.#log.info("dial failed", { address, kind, error });
    return new DialError(kind, error, { cause: e });
  }
}
