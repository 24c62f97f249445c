/**
 * Relaying what this node stores: every record and profile goes to each ready peer except the
 * one it came from, and becomes a node event. Record bodies go only to peers that do not pull
 * (Python peers, and ours when flooding); pulling peers get the ids announced instead and ask
 * for bodies ({@link Relay.serve}). Records are encoded once per record, and only when someone
 * besides the source will get it.
 * @module
 */
import {
  encodeFrame,
  envelope,
  envelopeRaw,
  type ExperimentRecord,
  type NodeProfile,
  recordJson,
  validateProfile,
} from "../protocol/mod.ts";
import type { ProfileStore } from "../store/mod.ts";
import type { NodeEvent } from "../node_types.ts";
import type { Ingested } from "./ingest.ts";

/** What relaying needs from a connection. */
export interface RelayPeer {
  send(json: string): boolean;
  sendFrame(frame: Uint8Array): boolean;
  /** When this peer last gave us a record we did not have (ms; protects it from eviction). */
  lastNewRecordAt: number;
}

/** Options of a {@link Relay}. */
export interface RelayOptions<P extends RelayPeer> {
  profiles: ProfileStore;
  /** Where requested bodies are read. */
  records: { get(id: string): ExperimentRecord | undefined };
  /** True for a peer that gets record ids announced instead of bodies. */
  pulls(peer: P): boolean;
  /** Announce stored records (`source` sent them; null: created here) to the pulling peers. */
  announce(ids: string[], source: P | null): void;
  /** Peers that get relayed messages. */
  targets(): P[];
  emit(e: NodeEvent): void;
  /** A record from `source` was stored: fetch its code from there ahead of need (newest first). */
  prefetch(codeCid: string, source: P, timestamp: number): void;
  /** A message was queued to a peer outside {@link RelayPeer.send} (traffic counters). */
  sentFrame(type: string): void;
}

/**
 * Encoded frames of the records stored last, at most this many bytes together: what pulling
 * peers ask for next. In a 10-node mesh (scripts/bench/mesh.ts) the first node served each
 * record to 9 peers, each time read back from SQLite and encoded again.
 */
export const RECENT_FRAME_BYTES = 4 * 1024 * 1024;

/** Relays stored records and profiles. */
export class Relay<P extends RelayPeer> {
  readonly #o: RelayOptions<P>;
  /** Record id -> its `experiment` frame, oldest first. */
  readonly #recent = new Map<string, Uint8Array>();
  #recentBytes = 0;

  constructor(o: RelayOptions<P>) {
    this.#o = o;
  }

  /** A batch of records was stored (source null: created here). */
  records(batch: Ingested<P>[]): void {
    const targets = this.#o.targets();
    const now = Date.now();
    for (const { record, source } of batch) {
      if (source) source.lastNewRecordAt = now; // a feeder is kept when slots run out (slots.ts)
      this.#o.emit({ kind: "experiment", record, source: source ? "peer" : "local" });
      let frame: Uint8Array | undefined;
      let pullers = false;
      for (const t of targets) {
        if (t === source) continue;
        if (this.#o.pulls(t)) {
          pullers = true;
          continue;
        }
        frame ??= recordFrame(record);
        if (t.sendFrame(frame)) this.#o.sentFrame("experiment");
      }
      if (pullers) this.#remember(record.id, frame ?? recordFrame(record));
      if (source) this.#o.prefetch(record.code_cid, source, record.timestamp);
    }
    for (const source of new Set(batch.map((b) => b.source))) {
      this.#o.announce(batch.filter((b) => b.source === source).map((b) => b.record.id), source);
    }
  }

  /** Send `peer` the bodies it asked for that are stored here; returns how many. */
  serve(peer: P, ids: readonly string[]): number {
    let sent = 0;
    for (const id of ids) {
      let frame = this.#recent.get(id);
      if (!frame) {
        const record = this.#o.records.get(id);
        if (!record) continue;
        frame = recordFrame(record);
      }
      if (!peer.sendFrame(frame)) continue;
      this.#o.sentFrame("experiment");
      sent++;
    }
    return sent;
  }

  /** Store and relay a profile from `from` (null: ours); false when invalid or not newer. */
  async profile(raw: unknown, from: P | null): Promise<boolean> {
    const v = await validateProfile(raw);
    if (!v.ok) return false;
    let stored: boolean;
    try {
      stored = this.#o.profiles.upsert(v.value);
    } catch {
      return false;
    }
    if (!stored) return false;
    const profile: NodeProfile = v.value;
    this.#o.emit({ kind: "profile", profile });
    const json = envelope("profile", profile);
    for (const t of this.#o.targets()) if (t !== from) t.send(json);
    return true;
  }

  #remember(id: string, frame: Uint8Array): void {
    if (frame.length > RECENT_FRAME_BYTES / 16) return; // a few huge records must not evict all
    this.#recent.set(id, frame);
    this.#recentBytes += frame.length;
    for (const [old, f] of this.#recent) {
      if (this.#recentBytes <= RECENT_FRAME_BYTES) break;
      this.#recent.delete(old);
      this.#recentBytes -= f.length;
    }
  }
}

function recordFrame(record: ExperimentRecord): Uint8Array {
  return encodeFrame(envelopeRaw("experiment", recordJson(record)));
}
