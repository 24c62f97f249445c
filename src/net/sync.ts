/**
 * Answering sync requests by streaming from SQLite page by page, pausing whenever the peer's
 * write queue is full, so a sync never holds the graph in memory and never starves other peers.
 *
 * - `sync_request {since}` (Python-compatible): one `experiment` message per record with
 *   `timestamp >= since`.
 * - `sync_seq` (extension): records, then profiles, then control events stored after the
 *   requester's cursors, each page followed by a `sync_mark` with the cursors it covers.
 * @module
 */
import {
  canonicalJson,
  CONTROL_FLOAT_KEYS,
  envelope,
  envelopeRaw,
  recordJson,
  type SyncMarkPayload,
  type SyncSeqPayload,
} from "../protocol/mod.ts";
import type { Stores } from "../store/mod.ts";

/** What streaming needs from a connection. */
export interface SyncSink {
  readonly closed: boolean;
  readonly queuedBytes: number;
  send(json: string): boolean;
  drained(lowWater: number): Promise<void>;
}

/** Pause producing above this many queued bytes... */
const HIGH_WATER = 4 * 1024 * 1024;
/** ...until the queue is back under this. */
const LOW_WATER = 1024 * 1024;
const PAGE = 500;

async function backpressure(sink: SyncSink): Promise<void> {
  if (sink.queuedBytes > HIGH_WATER) await sink.drained(LOW_WATER);
}

/**
 * Stream every record with `timestamp >= since` to `sink`. Returns how many were sent.
 * The generator pages with keyset queries, so pausing between pages holds no database lock.
 */
export async function streamSinceTimestamp(
  stores: Stores,
  sink: SyncSink,
  since: number,
): Promise<number> {
  let sent = 0;
  for (const rec of stores.graph.iterSinceTimestamp(since, PAGE)) {
    if (sink.closed) break;
    if (!sink.send(envelopeRaw("experiment", recordJson(rec)))) break;
    sent++;
    if (sent % 64 === 0) await backpressure(sink);
  }
  return sent;
}

/** Stream everything after the requester's cursors (our epoch). Returns records sent. */
export async function streamAfterSeq(
  stores: Stores,
  sink: SyncSink,
  epoch: string,
  req: SyncSeqPayload,
): Promise<number> {
  // Cursors from another epoch number rows of a database we no longer have: start over.
  const same = req.db_epoch === epoch;
  const cur = {
    records: same ? req.records : 0,
    profiles: same ? req.profiles : 0,
    control: same ? req.control : 0,
  };
  const mark = (done: boolean) => {
    const m: SyncMarkPayload = { db_epoch: epoch, ...cur, done };
    return sink.send(envelope("sync_mark", m));
  };
  let sent = 0;
  for (;;) {
    const page = stores.graph.afterSeq(cur.records, PAGE);
    if (page.length === 0 || sink.closed) break;
    for (const { seq, record } of page) {
      if (!sink.send(envelopeRaw("experiment", recordJson(record)))) return sent;
      cur.records = seq;
      sent++;
    }
    if (!mark(false)) return sent;
    await backpressure(sink);
  }
  for (;;) {
    const page = stores.profiles.afterSeq(cur.profiles, PAGE);
    if (page.length === 0 || sink.closed) break;
    for (const { seq, profile } of page) {
      if (!sink.send(envelope("profile", profile))) return sent;
      cur.profiles = seq;
    }
    await backpressure(sink);
  }
  for (;;) {
    const page = stores.control.afterSeq(cur.control, PAGE);
    if (page.length === 0 || sink.closed) break;
    for (const { seq, type, payload } of page) {
      let json: string;
      try {
        json = canonicalJson(payload, CONTROL_FLOAT_KEYS);
      } catch {
        json = JSON.stringify(payload);
      }
      if (!sink.send(envelopeRaw(type, json))) return sent;
      cur.control = seq;
    }
    await backpressure(sink);
  }
  if (!sink.closed) mark(true);
  return sent;
}
