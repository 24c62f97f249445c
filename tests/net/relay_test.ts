/**
 * Relay: bodies go whole to peers that do not pull, and a record asked for by many pulling
 * peers is read from the store and encoded once (the recent-frame cache).
 */
import assert from "node:assert/strict";
import { Relay, type RelayPeer } from "../../src/net/relay.ts";
import { type ExperimentRecord, FrameDecoder } from "../../src/protocol/mod.ts";
import type { ProfileStore } from "../../src/store/mod.ts";
import { makeRecords } from "./helpers.ts";

class Peer implements RelayPeer {
  lastNewRecordAt = 0;
  readonly frames: Uint8Array[] = [];
  constructor(readonly pulls: boolean) {}
  send(): boolean {
    return true;
  }
  sendFrame(frame: Uint8Array): boolean {
    this.frames.push(frame);
    return true;
  }
}

function relayOver(records: ExperimentRecord[], peers: Peer[]) {
  const byId = new Map(records.map((r) => [r.id, r]));
  const reads: string[] = [];
  const relay = new Relay<Peer>({
    profiles: {} as ProfileStore, // not used by record relaying
    records: {
      get(id) {
        reads.push(id);
        return byId.get(id);
      },
    },
    pulls: (p) => p.pulls,
    announce: () => {},
    targets: () => peers,
    emit: () => {},
    prefetch: () => {},
    sentFrame: () => {},
  });
  return { relay, reads };
}

/** The record ids of `experiment` frames, in order. */
function ids(frames: Uint8Array[]): string[] {
  const decoder = new FrameDecoder();
  return frames.flatMap((f) => decoder.push(f)).map((body) => {
    const m = JSON.parse(new TextDecoder().decode(body)) as {
      type: string;
      payload: { id: string };
    };
    assert.equal(m.type, "experiment");
    return m.payload.id;
  });
}

Deno.test("relay: bodies asked for by pulling peers come from the recent frames, not the store", () => {
  const recs = makeRecords(5, undefined, { tag: "relay" });
  const python = new Peer(false);
  const pullers = [new Peer(true), new Peer(true), new Peer(true)];
  const { relay, reads } = relayOver(recs, [python, ...pullers]);
  relay.records(recs.map((record) => ({ record, source: null })));
  assert.deepEqual(ids(python.frames), recs.map((r) => r.id), "a Python peer gets every body");
  for (const p of pullers) {
    assert.equal(p.frames.length, 0, "pulling peers get no body unasked");
    assert.equal(relay.serve(p, recs.map((r) => r.id)), recs.length);
    assert.deepEqual(ids(p.frames), recs.map((r) => r.id));
  }
  assert.deepEqual(reads, [], "served from memory");
  // A record stored before this process (or pushed out of the cache) is read from the store.
  const old = makeRecords(1, undefined, { tag: "relay-old", t0: 1_600_000_000 });
  const { relay: fresh, reads: freshReads } = relayOver(old, pullers);
  assert.equal(fresh.serve(pullers[0]!, [old[0]!.id, "f".repeat(64)]), 1, "unknown ids skipped");
  assert.deepEqual(freshReads, [old[0]!.id, "f".repeat(64)]);
});
