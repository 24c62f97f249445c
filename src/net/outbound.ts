/**
 * Where this node dials: the {@link PeerBook} (what to dial and when) with the {@link Dialer}
 * (how, and why it failed), and `known_peer`, the addresses learned through PEX saved for the
 * next start.
 * @module
 */
import { parseAddress } from "../protocol/mod.ts";
import { saveKnownPeers } from "../config.ts";
import type { Logger } from "../ops/log.ts";
import type { BackoffPolicy } from "./backoff.ts";
import { PeerBook } from "./peer_book.ts";
import { Dialer, DialError } from "./transport.ts";
import { keepsExisting } from "./slots.ts";

/** Options of {@link Outbound}. */
export interface OutboundOptions {
  dataDir: string;
  peers: string[];
  bootstrap: string[];
  knownPeers: string[];
  targetOutbound: number;
  backoff: BackoffPolicy;
  dialTimeoutMs: number;
  log: Logger;
}

/** What choosing dials needs to know about a live connection. */
export interface LivePeer {
  readonly inbound: boolean;
  readonly hello?: { node_id: string } | undefined;
}

/** A connection whose peer just said who it is. */
export interface IdentifiedPeer extends LivePeer {
  readonly dialedAddress?: string | undefined;
  close(reason: string): void;
}

/** The addresses to dial, the dials, and `known_peer`. */
export class Outbound {
  readonly book: PeerBook;
  readonly dialer: Dialer;
  readonly #dataDir: string;

  constructor(o: OutboundOptions) {
    this.#dataDir = o.dataDir;
    this.book = new PeerBook({
      configured: o.peers,
      bootstrap: o.bootstrap,
      known: o.knownPeers,
      backoff: o.backoff,
      targetOutbound: o.targetOutbound,
    });
    this.dialer = new Dialer(o.dialTimeoutMs, o.log);
  }

  /** Addresses to dial now, given the live connections and room for `maxPeers` in all. */
  due(now: number, live: readonly LivePeer[], maxPeers: number): string[] {
    const nodes = new Set(live.flatMap((c) => c.hello ? [c.hello.node_id] : []));
    const outbound = live.filter((c) => !c.inbound).length;
    return this.book.due(now, outbound, nodes).slice(0, Math.max(0, maxPeers - live.length));
  }

  /**
   * Dial `address`; undefined when it is invalid (never dialed again) or the dial failed
   * (`failed` is told why; the book backs off).
   */
  async dial(address: string, failed: (e: DialError) => void): Promise<Deno.TcpConn | undefined> {
    const parsed = parseAddress(address);
    if (!parsed.ok) return void this.book.markSelf(address); // never valid: stop trying
    this.book.dialing(address);
    try {
      return await this.dialer.dial(address, parsed.value.host, parsed.value.port);
    } catch (e) {
      if (!(e instanceof DialError)) throw e;
      this.book.failed(address, Date.now());
      failed(e);
    }
  }

  /**
   * `c` said `hello` as `hello.node_id`: remember who its dialed address is, and close it when
   * it is ourselves (that address is never dialed again) or a second connection to a node we
   * already have (the rule in `keepsExisting`; the other one may be closed instead).
   * Returns false when `c` was closed.
   */
  identify<C extends IdentifiedPeer>(
    c: C,
    hello: { node_id: string },
    ourId: string,
    live: readonly C[],
  ): boolean {
    if (hello.node_id === ourId) {
      if (c.dialedAddress) this.book.markSelf(c.dialedAddress);
      c.close("connected to ourselves");
      return false;
    }
    if (c.dialedAddress) this.book.identified(c.dialedAddress, hello.node_id);
    const other = live.find((d) => d !== c && d.hello?.node_id === hello.node_id);
    if (other) {
      if (keepsExisting(other, c, hello.node_id, ourId)) {
        c.close("duplicate connection");
        return false;
      }
      other.close("duplicate connection");
    }
    return true;
  }

  /**
   * Save `known_peer` when a new address was discovered since the last save; a failure only
   * costs the hint (the next discovery retries).
   */
  saveKnown(): Promise<void> | undefined {
    if (!this.book.takeDiscoveredChanged()) return undefined;
    return saveKnownPeers(this.#dataDir, this.book.discovered());
  }
}
