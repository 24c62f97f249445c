/**
 * What the network tells the rest of the node, in one place: node events (guarded, so a failing
 * listener never breaks the network) and the peer lifecycle as events and log lines: a peer up,
 * a connection ended and why, a dial failed and how.
 * @module
 */
import type { NodeEvent } from "../node_types.ts";
import type { Logger } from "../ops/log.ts";
import type { DialError } from "./transport.ts";
import { errorText, isProgrammerError } from "../errors.ts";

/** What peer events need from a connection. */
export interface EventPeer {
  readonly address: string;
  readonly inbound: boolean;
  readonly hello?: { node_id: string };
}

/** Emits node events and logs the peer lifecycle. */
export class NetEvents {
  readonly #emit: (e: NodeEvent) => void;
  readonly #log: Logger;

  constructor(emit: ((e: NodeEvent) => void) | undefined, log: Logger) {
    this.#emit = emit ?? (() => {});
    this.#log = log;
  }

  /** Deliver `e`; a throwing listener is logged, never propagated into the network. */
  emit(e: NodeEvent): void {
    try {
      this.#emit(e);
    } catch (err) {
      // Logged, not rethrown: one broken listener must not take the network down with it.
      this.#log.error("node event listener failed", {
        kind: e.kind,
        error: errorText(err),
        stack: err instanceof Error ? err.stack : undefined,
      });
    }
  }

  /**
   * A background task of the network (a connection, a dial, a sync stream, a control handler)
   * failed. An expected failure (a peer reset, a store refusing a row) is logged at debug and
   * swallowed; a programmer error is logged with its stack and rethrown, so it reaches the
   * process's unhandled-rejection handling instead of vanishing.
   */
  taskFailed(task: string, e: unknown): void {
    if (!isProgrammerError(e)) {
      this.#log.debug("network task failed", { task, error: errorText(e) });
      return;
    }
    this.#log.error("network task hit a bug", {
      task,
      error: errorText(e),
      stack: (e as Error).stack,
    });
    throw e;
  }

  /** `c` finished its handshake (hello, or known to be a Python peer). */
  up(c: EventPeer): void {
    this.emit({ kind: "peer", state: "up", address: c.address, nodeId: c.hello?.node_id });
  }

  /** `c` closed for `reason`; a `peer down` event when it was a peer (`wasPeer`). */
  closed(c: EventPeer, reason: string, wasPeer: boolean): void {
    const nodeId = c.hello?.node_id;
    // Debug level: a peer's end is logged at info from its `peer down` event (with the reason);
    // connections that never became peers (scanners, floods, duplicates) are noise at info.
    this.#log.debug("connection closed", {
      address: c.address,
      node_id: nodeId,
      inbound: c.inbound,
      peer: wasPeer,
      reason,
    });
    if (wasPeer) this.emit({ kind: "peer", state: "down", address: c.address, nodeId, reason });
  }

  /** A dial to `address` failed (the dialer logged it): a `peer down` event with the reason. */
  dialFailed(address: string, e: DialError): void {
    this.emit({ kind: "peer", state: "down", address, reason: e.message, dialError: e.kind });
  }
}
