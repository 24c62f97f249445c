/**
 * Sync with peers that never say `hello` (the Python node, PROTOCOL.md section 11). They only
 * understand `sync_request {since}`, so we keep a per-address watermark: the newest record
 * timestamp received from that address and durably stored. A reconnect asks from the watermark
 * less a margin, because records are not time-ordered.
 * @module
 */
import { envelope } from "../protocol/mod.ts";
import type { SyncState } from "./sync_state.ts";

/** Watermarks trail the newest timestamp seen by this much (records are not time-ordered). */
export const WATERMARK_MARGIN_S = 3600;

/**
 * Records received from one legacy peer between two watermark saves: a crash re-syncs at most
 * this many (plus the margin); saving per record would queue a marker per record.
 */
const SAVE_EVERY = 1000;

/** What legacy sync needs from a connection. */
export interface LegacyPeer {
  readonly id: number;
  readonly remoteHost: string;
  readonly dialedAddress?: string | undefined;
  send(json: string): boolean;
}

/** Where watermarks are kept, and when records received so far are durable. */
export interface LegacySyncDeps {
  state: Pick<SyncState, "watermark" | "raiseWatermark">;
  /** Run `fn` once every record submitted so far is stored or dropped. */
  afterPending(fn: (durable: boolean) => void): void;
}

interface Progress {
  key: string;
  maxTs: number;
  sinceMark: number;
}

/** The Python-compatible peers of a network and their sync progress. */
export class LegacySync {
  readonly #deps: LegacySyncDeps;
  readonly #peers = new Map<number, Progress>();

  constructor(deps: LegacySyncDeps) {
    this.#deps = deps;
  }

  /** True when `id` is a connection treated as a Python peer. */
  has(id: number): boolean {
    return this.#peers.has(id);
  }

  /** Treat `c` as a Python peer: ask for everything after its watermark, and for peers. */
  start(c: LegacyPeer): void {
    // A dialed address is the peer's identity; an inbound peer is known only by its IP.
    const key = c.dialedAddress ?? c.remoteHost;
    this.#peers.set(c.id, { key, maxTs: 0, sinceMark: 0 });
    const since = Math.max(0, this.#deps.state.watermark(key) - WATERMARK_MARGIN_S);
    c.send(envelope("sync_request", { since }));
    c.send(envelope("pex_request", {}));
  }

  /** Note a record received from `c` (before validation: only its timestamp is read). */
  received(c: LegacyPeer, raw: unknown): void {
    const p = this.#peers.get(c.id);
    if (!p) return;
    const ts = (raw as { timestamp?: unknown }).timestamp;
    if (typeof ts === "number" && Number.isSafeInteger(ts) && ts > p.maxTs) p.maxTs = ts;
    if (++p.sinceMark >= SAVE_EVERY) {
      p.sinceMark = 0;
      this.#save(p);
    }
  }

  /** Forget `c`, saving its watermark; true when it was a Python peer. */
  closed(c: LegacyPeer): boolean {
    const p = this.#peers.get(c.id);
    if (!p) return false;
    this.#peers.delete(c.id);
    this.#save(p);
    return true;
  }

  #save(p: Progress): void {
    const ts = p.maxTs;
    if (ts <= 0) return;
    this.#deps.afterPending((durable) => {
      if (durable) this.#deps.state.raiseWatermark(p.key, ts);
    });
  }
}
