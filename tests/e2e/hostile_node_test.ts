/**
 * Hostile peers against a node process started as README says (`deno task run`'s permissions
 * and V8 heap cap, sync-only, loopback): each attack of issue 15's table, scaled down where the
 * point holds (fewer connections, but still beyond the budget they attack). After each one the
 * node answers a new connection's `ping`, an honest peer connects and its records are stored,
 * nothing invalid is stored, and the heap (scraped from `/metrics` throughout) stays under the
 * cap. The full-size run is `deno task bench soak` (scripts/bench/soak.ts).
 * The seventh attack of the table, a `train.py` that allocates memory, is
 * tests/training/runner_test.ts (a run is its own process; the node only reads its outcome).
 */
import assert from "node:assert/strict";
import {
  encodeFrame,
  envelope,
  envelopeRaw,
  generateKeyPair,
  MAX_FRAME_BYTES,
  recordJson,
  signControl,
  verificationId,
} from "../../src/protocol/mod.ts";
import { fastSignRecord, makeRecords, RawPeer, startNode, waitFor } from "../net/helpers.ts";
import { Victim } from "./fixtures/victim.ts";

const enc = new TextEncoder();
let tagCounter = 0;

/** An honest in-process node dials the victim, publishes `n` records, and they are stored. */
async function honestSync(v: Victim, n = 20): Promise<void> {
  const honest = await startNode({ peers: [v.address] });
  try {
    const before = v.count();
    const recs = makeRecords(n, generateKeyPair(), { tag: `honest${tagCounter++}` });
    await waitFor(
      () => honest.node.peers().some((p) => p.nodeId),
      "the honest peer's link",
      30_000,
    );
    for (const r of recs) await honest.node.publish(r);
    await waitFor(() => v.count() === before + n, "the honest records at the victim", 30_000);
  } finally {
    await honest.stop();
  }
}

/** The victim is alive, answers ping, serves an honest peer, and its heap stayed under the cap. */
async function assertHealthy(v: Victim, what: string): Promise<void> {
  assert.equal(v.exited, false, `${what}: the node died: ${v.stderr.slice(-2000)}`);
  assert.ok(await v.pongs(), `${what}: a new connection gets pong`);
  await honestSync(v);
  await v.sample();
  assert.ok(v.maxHeap > 0, "the heap was measured");
  assert.ok(v.maxHeap < v.heapCap, `${what}: heap peaked at ${v.maxHeap} of ${v.heapCap}`);
}

async function connectAll(port: number, n: number): Promise<RawPeer[]> {
  const out: RawPeer[] = [];
  for (let i = 0; i < n; i++) out.push(await RawPeer.connect(port));
  return out;
}

async function closeAll(peers: RawPeer[]): Promise<void> {
  await Promise.all(peers.map((p) => p.close()));
}

/** A frame of `type` whose payload has `n` extra keys (8.8 MB for a million). */
function manyKeysFrame(type: string, n: number): Uint8Array {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`"${i.toString(36)}":1`);
  const payload = `{"event_id":"x","experiment_id":"y","challenger_id":"z",` +
    `"challenger_bpb":1.0,"challenger_gpu":"CPU",${parts.join(",")}}`;
  return encodeFrame(envelopeRaw(type, payload));
}

/** A signed record with `descriptionChars` of description. */
function bigRecord(descriptionChars: number, badSignature = false) {
  const keys = generateKeyPair();
  const [base] = makeRecords(1, keys, { tag: `big${tagCounter++}` });
  const { id: _i, signature: _s, ...payload } = base!;
  const rec = fastSignRecord({ ...payload, description: "x".repeat(descriptionChars) }, keys);
  return badSignature ? { ...rec, signature: "0".repeat(128) } : rec;
}

Deno.test({
  name: "hostile peers vs a node run as `deno task run`: it lives, serves, stores nothing invalid",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const v = await Victim.start();
    const stopWatch = v.watchHeap();
    try {
      await t.step("a challenge frame with 1,000,000 extra keys (x3)", async () => {
        const frame = manyKeysFrame("challenge", 1_000_000);
        assert.ok(frame.length > 8_000_000);
        const peers = await connectAll(v.port, 3);
        await Promise.all(peers.map((p) => p.write(frame)));
        await v.pongs();
        await closeAll(peers);
        await assertHealthy(v, "million keys");
      });

      await t.step("30 connections each send a 9 MiB experiment with a bad signature", async () => {
        const before = v.count();
        const frame = encodeFrame(
          envelopeRaw("experiment", recordJson(bigRecord(9 * 2 ** 20, true))),
        );
        const peers = await connectAll(v.port, 30);
        await Promise.allSettled(peers.map((p) => p.write(frame)));
        await v.pongs(30_000);
        await closeAll(peers);
        assert.equal(v.count(), before, "none stored");
        await assertHealthy(v, "30 x 9 MiB");
      });

      await t.step("64 connections ping once and stay: newcomers still get in", async () => {
        const idle = await connectAll(v.port, 64);
        // Past 32 from this one address group, each new one already evicts an older idle one.
        await Promise.allSettled(idle.map((p) => p.sendJson(envelope("ping", {}))));
        await waitFor(
          () => idle.filter((p) => p.received.some((m) => m.type === "pong")).length >= 20,
          "the idle connections' pongs",
          30_000,
        );
        // Slots are full of idle connections from one group: each newcomer evicts one of them.
        await assertHealthy(v, "64 idle");
        assert.ok(idle.some((p) => p.closedByPeer), "idle connections were evicted for newcomers");
        await closeAll(idle);
      });

      await t.step("slowloris: frames trickled 1 byte/s, and 9 MiB partial frames", async () => {
        const trickle = await connectAll(v.port, 10);
        const header = new Uint8Array(4);
        new DataView(header.buffer).setUint32(0, 5 * 2 ** 20);
        await Promise.all(trickle.map((p) => p.write(header)));
        const partial = new Uint8Array(9 * 2 ** 20).fill(0x20);
        const bigHeader = new Uint8Array(4);
        new DataView(bigHeader.buffer).setUint32(0, MAX_FRAME_BYTES);
        const hoarders = await connectAll(v.port, 20);
        await Promise.allSettled(hoarders.map(async (p) => {
          await p.write(bigHeader);
          await p.write(partial);
        }));
        // 20 x 9 MiB is over the 64 MiB receive budget: the largest holders are closed at once.
        await waitFor(
          () => hoarders.filter((p) => p.closedByPeer).length >= 13,
          "the receive budget to close the largest holders",
          30_000,
        );
        const ticker = setInterval(() => {
          for (const p of trickle) if (!p.closedByPeer) p.write(enc.encode(" ")).catch(() => {});
        }, 1000);
        try {
          // Below 4 KiB/s once 10 s old: every trickled frame is dropped well before 60 s.
          await waitFor(
            () => trickle.every((p) => p.closedByPeer),
            "trickled frames dropped",
            40_000,
          );
        } finally {
          clearInterval(ticker);
        }
        await closeAll([...trickle, ...hoarders]);
        await assertHealthy(v, "slowloris");
        assert.ok(v.peakRss() < 1024 * 2 ** 20, `peak RSS ${v.peakRss()}`);
      });

      await t.step("validly signed records with 9 MiB and 100 KB descriptions", async () => {
        const before = v.count();
        const peer = await RawPeer.connect(v.port);
        for (const size of [9 * 2 ** 20, 100_000]) {
          await peer.write(encodeFrame(envelopeRaw("experiment", recordJson(bigRecord(size)))));
        }
        await peer.sendJson(envelope("ping", {}));
        await waitFor(
          () => peer.received.some((m) => m.type === "pong"),
          "pong after them",
          30_000,
        );
        await peer.close();
        await assertHealthy(v, "oversized records");
        assert.equal(v.count(), before + 20, "only the honest peer's 20 records");
        const longest = v.query<{ n: number }>(
          "SELECT MAX(length(description)) AS n FROM experiment",
        )[0]?.n;
        assert.ok(Number(longest) <= 16 * 1024, `longest stored description: ${longest}`);
        const graph = await (await fetch(`http://127.0.0.1:${v.webPort}/api/graph`)).json();
        for (const node of graph.node) assert.ok(node.description.length <= 1024);
      });

      await t.step("30 fresh keys verify one record: its publisher is credited once", async () => {
        const publisher = generateKeyPair();
        const [rec] = makeRecords(1, publisher, { tag: `sybil${tagCounter++}` });
        const peer = await RawPeer.connect(v.port);
        await peer.sendJson(envelopeRaw("experiment", recordJson(rec!)));
        await waitFor(
          () =>
            v.count() > 0 &&
            v.query(`SELECT 1 FROM experiment WHERE id = '${rec!.id}'`).length === 1,
          "the record",
          30_000,
        );
        for (let i = 0; i < 30; i++) {
          const k = generateKeyPair();
          const ev = signControl(
            {
              type: "verification",
              payload: {
                event_id: verificationId(rec!.id, k.nodeId),
                experiment_id: rec!.id,
                verified_node_id: publisher.nodeId,
                verifier_id: k.nodeId,
                verifier_gpu: "CPU",
                verifier_bpb: rec!.val_bpb,
                is_frontier: true,
              },
            },
            k.seed,
            k.nodeId,
          );
          await peer.sendJson(envelope(ev.type, ev.payload));
        }
        const reputation = async () =>
          await (await fetch(
            `http://127.0.0.1:${v.webPort}/api/node/${publisher.nodeId}/reputation`,
          )).json();
        const end = Date.now() + 30_000;
        while ((await reputation()).experiments_verified < 1 && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 200));
        }
        // Let every one of the 30 arrive and be judged before reading the score.
        await peer.sendJson(envelope("ping", {}));
        await waitFor(() => peer.received.some((m) => m.type === "pong"), "pong", 30_000);
        await new Promise((r) => setTimeout(r, 1000));
        const row = await reputation();
        assert.equal(row.experiments_verified, 1);
        assert.equal(row.score, 2.0, "one frontier keep, credited once (was +2.0 per key)");
        await peer.close();
        await assertHealthy(v, "Sybil verifications");
      });
    } finally {
      await stopWatch();
      console.log(
        `victim: peak heap ${(v.maxHeap / 2 ** 20).toFixed(1)} MiB of ${v.heapCap / 2 ** 20}, ` +
          `peak RSS ${(v.peakRss() / 2 ** 20).toFixed(0)} MiB`,
      );
      await v.stop();
    }
  },
});
