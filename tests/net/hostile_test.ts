/**
 * Hostile input: each case attacks a node over a raw socket while a good peer stays connected,
 * then checks the node is alive, lost nothing, and still serves the good peer.
 */
import assert from "node:assert/strict";
import { encodeFrame, envelope, envelopeRaw, recordJson } from "../../src/protocol/mod.ts";
import type { ConnectionLimits } from "../../src/net/connection.ts";
import { makeRecords, RawPeer, startNode, type TestNode, vectorKey, waitFor } from "./helpers.ts";
import { take } from "../tuple.ts";

let counter = 0;

interface Fixture {
  n: TestNode;
  g: TestNode;
  before: number;
  stop(): Promise<void>;
}

/** Node `n` with 50 records and a good peer `g` synced to it. */
async function fixture(limits: Partial<ConnectionLimits> = {}): Promise<Fixture> {
  const n = await startNode({ limits });
  n.node.stores.graph.insertMany(makeRecords(50, vectorKey(0), { tag: `base${counter++}` }));
  const g = await startNode({ peers: [n.address] });
  await waitFor(() => g.node.stores.graph.count() === 50, "good peer synced");
  return {
    n,
    g,
    before: n.node.stores.graph.count(),
    async stop() {
      await g.stop();
      await n.stop();
    },
  };
}

/** The node kept its data and still exchanges records with the good peer, both ways. */
async function assertHealthy(f: Fixture): Promise<void> {
  const [fromG] = take(
    makeRecords(1, vectorKey(1), { tag: `g${counter++}`, t0: 1_800_000_000 }),
    1,
  );
  await f.g.node.publish(fromG);
  await waitFor(() => f.n.node.stores.graph.has(fromG.id), "record from the good peer");
  const [fromN] = take(
    makeRecords(1, vectorKey(2), { tag: `n${counter++}`, t0: 1_800_000_001 }),
    1,
  );
  await f.n.node.publish(fromN);
  await waitFor(() => f.g.node.stores.graph.has(fromN.id), "record to the good peer");
  assert.equal(f.n.node.stores.graph.count(), f.before + 2);
}

function frameOf(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("hostile: a length prefix over 10 MiB closes that connection only", async () => {
  const f = await fixture();
  const bad = await RawPeer.connect(f.n.node.port);
  try {
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, 10 * 1024 * 1024 + 1);
    await bad.write(header);
    await waitFor(() => bad.closedByPeer, "the node to drop the connection");
    await assertHealthy(f);
  } finally {
    await bad.close();
    await f.stop();
  }
});

Deno.test("hostile: a truncated frame then silence is timed out", async () => {
  const f = await fixture({ frameTimeoutMs: 300 });
  const bad = await RawPeer.connect(f.n.node.port);
  try {
    const partial = frameOf(enc(envelope("ping", {}))).subarray(0, 10);
    await bad.write(partial);
    await waitFor(() => bad.closedByPeer, "the stalled frame to be dropped", 5000);
    await assertHealthy(f);
  } finally {
    await bad.close();
    await f.stop();
  }
});

Deno.test("hostile: invalid UTF-8 is dropped and the connection keeps working", async () => {
  const f = await fixture();
  const bad = await RawPeer.connect(f.n.node.port);
  try {
    await bad.write(frameOf(new Uint8Array([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d])));
    // The same peer then sends a valid record: parsing state was not corrupted.
    const [rec] = take(makeRecords(1, vectorKey(3), { tag: `u${counter++}` }), 1);
    await bad.sendJson(envelopeRaw("experiment", recordJson(rec)));
    await waitFor(() => f.n.node.stores.graph.has(rec.id), "the valid record after the junk");
    f.before++;
    assert.equal(bad.closedByPeer, false);
    await assertHealthy(f);
  } finally {
    await bad.close();
    await f.stop();
  }
});

Deno.test("hostile: invalid JSON is dropped", async () => {
  const f = await fixture();
  const bad = await RawPeer.connect(f.n.node.port);
  try {
    for (const text of ['{"type": "experiment", "payload": {', "nope", "{'a': 1}", ""]) {
      await bad.write(frameOf(enc(text)));
    }
    await bad.sendJson(envelope("ping", {}));
    await waitFor(() => bad.received.some((m) => m.type === "pong"), "pong after junk");
    await assertHealthy(f);
  } finally {
    await bad.close();
    await f.stop();
  }
});

Deno.test("hostile: JSON that is not an object is dropped", async () => {
  const f = await fixture();
  const bad = await RawPeer.connect(f.n.node.port);
  try {
    for (const text of ["[1,2,3]", '"experiment"', "null", "42", "true", '{"type": 5}']) {
      await bad.sendJson(text);
    }
    await bad.sendJson(envelope("ping", {}));
    await waitFor(() => bad.received.some((m) => m.type === "pong"), "pong after junk");
    await assertHealthy(f);
  } finally {
    await bad.close();
    await f.stop();
  }
});

Deno.test("hostile: wrong field types are rejected without side effects", async () => {
  const f = await fixture();
  const bad = await RawPeer.connect(f.n.node.port);
  try {
    const [good] = take(makeRecords(1, vectorKey(4), { tag: `w${counter++}` }), 1);
    const cases: [string, unknown][] = [
      ["experiment", { ...good, val_bpb: "0.9" }],
      ["experiment", { ...good, timestamp: 1.5 }],
      ["experiment", { ...good, parent: 7 }],
      ["experiment", null],
      ["experiment", [good]],
      ["sync_request", { since: "0" }],
      ["sync_seq", { db_epoch: 1, records: 0, profiles: 0, control: 0 }],
      ["sync_mark", { db_epoch: "x", records: -5, profiles: 0, control: 0, done: true }],
      ["pex_response", { peer: 5 }],
      ["pex_response", { peer: ["not an address", "999.1.1.1:99999", "x:0"] }],
      ["code_request", { code_cid: 5 }],
      ["code_request", { code_cid: "../../etc/passwd" }],
      ["code_response", { code_cid: "a".repeat(64), code: 5 }],
      ["hello", { node_id: "zz", listen_port: 1, agent: "x", db_epoch: "e", features: [] }],
      ["profile", { node_id: 1 }],
      ["challenge", { event_id: "challenge:x:y" }],
      ["dispute", { event_id: 1, experiment_id: "e" }],
    ];
    for (const [type, payload] of cases) await bad.sendJson(envelope(type, payload));
    await bad.sendJson(envelope("ping", {}));
    await waitFor(() => bad.received.some((m) => m.type === "pong"), "pong after junk");
    await f.n.node.network.flush();
    assert.equal(f.n.node.stores.graph.has(good.id), false);
    assert.equal(f.n.node.stores.control.maxSeq(), 0);
    assert.equal(f.n.node.stores.profiles.maxSeq(), 0);
    assert.ok(f.n.node.network.addresses().every((a) => a.address !== "x:0"));
    await assertHealthy(f);
  } finally {
    await bad.close();
    await f.stop();
  }
});

Deno.test("hostile: 100,000 junk frames in a burst", async () => {
  const f = await fixture();
  const bad = await RawPeer.connect(f.n.node.port);
  try {
    // Half records of the wrong shape (well-formed messages), half bodies that are not JSON.
    const pair = [encodeFrame('{"type":"experiment","payload":{"id":1}}'), encodeFrame("{nope")];
    const size = (pair[0]!.length + pair[1]!.length) * 50_000;
    const burst = new Uint8Array(size);
    for (let i = 0, off = 0; i < 100_000; i++) {
      burst.set(pair[i % 2]!, off);
      off += pair[i % 2]!.length;
    }
    // The node hangs up after its invalid-message budget; the rest of our write may then fail.
    await bad.write(burst).catch(() => {});
    await waitFor(() => bad.closedByPeer, "the node to drop the junk sender");
    await assertHealthy(f);
  } finally {
    await bad.close();
    await f.stop();
  }
});

Deno.test("hostile: 1,000 connections opened and left idle", async () => {
  const f = await fixture({ handshakeTimeoutMs: 800 });
  const idle: RawPeer[] = [];
  try {
    for (let i = 0; i < 1000; i++) idle.push(await RawPeer.connect(f.n.node.port));
    // max_peers (64) caps what is kept; the good peer's connection is untouched.
    assert.ok(f.n.node.peers().length <= 64);
    await assertHealthy(f);
    // Silent newcomers are dropped after the handshake timeout, freeing room for real peers.
    await waitFor(() => idle.every((p) => p.closedByPeer), "idle connections dropped", 10_000);
    const late = await startNode({ peers: [f.n.address] });
    try {
      await waitFor(() => late.node.stores.graph.count() === f.before + 2, "a new peer syncs");
    } finally {
      await late.stop();
    }
  } finally {
    await Promise.all(idle.map((p) => p.close()));
    await f.stop();
  }
});

/** Feed `bad` a frame declared at 5 MiB, `bytes` every 100 ms, until the node drops it. */
async function trickle(bad: RawPeer, bytes: number, what: string): Promise<number> {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 5 * 2 ** 20);
  await bad.write(header);
  const started = Date.now();
  const chunk = new Uint8Array(bytes).fill(0x20);
  const timer = setInterval(() => bad.write(chunk).catch(() => {}), 100);
  try {
    await waitFor(() => bad.closedByPeer, what, 15_000);
  } finally {
    clearInterval(timer);
  }
  return Date.now() - started;
}

Deno.test("hostile: a frame trickled below the minimum rate is dropped, though bytes keep coming", async () => {
  const f = await fixture({ frameRateGraceMs: 500, minFrameBytesPerSec: 1000 });
  const bad = await RawPeer.connect(f.n.node.port);
  try {
    await trickle(bad, 10, "the trickled frame to be dropped"); // 100 B/s
    await assertHealthy(f);
  } finally {
    await bad.close();
    await f.stop();
  }
});

Deno.test("hostile: a frame's deadline runs from its first byte, not its last", async () => {
  // 10 KB/s is above the minimum rate, and a byte arrives every 100 ms: only the deadline ends it.
  const f = await fixture({ frameTimeoutMs: 1500, minFrameBytesPerSec: 1000 });
  const bad = await RawPeer.connect(f.n.node.port);
  try {
    const ms = await trickle(bad, 1000, "the frame past its deadline to be dropped");
    assert.ok(ms >= 1400, `dropped after ${ms} ms, not before the deadline`);
    await assertHealthy(f);
  } finally {
    await bad.close();
    await f.stop();
  }
});
