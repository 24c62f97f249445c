import assert from "node:assert/strict";
import { type ControlEvent, signControl, signProfile } from "../../src/protocol/mod.ts";
import type { PeerInfo } from "../../src/node_types.ts";
import {
  fastSignRecord,
  frontierIds,
  makeRecords,
  signedChallenge,
  startNode,
  type TestNode,
  vectorKey,
  waitFor,
} from "./helpers.ts";
import { take } from "../tuple.ts";

async function stopAll(...nodes: (TestNode | undefined)[]): Promise<void> {
  await Promise.all(nodes.map((n) => n?.stop()));
}

Deno.test("fastSignRecord produces valid records (the node accepts them)", async () => {
  const a = await startNode();
  try {
    const [rec] = take(makeRecords(1), 1);
    assert.equal(await a.node.network.publish(rec), true);
    assert.ok(a.node.stores.graph.has(rec.id));
    const forged = { ...rec, signature: fastSignRecord(rec, vectorKey(1)).signature };
    await assert.rejects(a.node.network.publish(forged), /bad signature/);
  } finally {
    await a.stop();
  }
});

Deno.test("two nodes share in both directions and converge on the same frontier", async () => {
  const a = await startNode();
  const recsA = makeRecords(200, vectorKey(0), { tag: "a" });
  const recsB = makeRecords(150, vectorKey(1), { tag: "b", t0: 1_700_100_000 });
  a.node.stores.graph.insertMany(recsA);
  let b: TestNode | undefined;
  try {
    b = await startNode({ peers: [a.address] });
    b.node.stores.graph.insertMany(recsB);
    const bb = b;
    await waitFor(
      () => a.node.stores.graph.count() === 350 && bb.node.stores.graph.count() === 350,
      "both nodes to hold 350 records",
    );
    assert.deepEqual(frontierIds(a), frontierIds(b));
    assert.ok(frontierIds(a).length > 10);
    // Live gossip, both ways.
    const [newA] = take(makeRecords(1, vectorKey(0), { tag: "liveA", t0: 1_800_000_000 }), 1);
    const [newB] = take(makeRecords(1, vectorKey(1), { tag: "liveB", t0: 1_800_000_001 }), 1);
    await a.node.publish(newA);
    await b.node.publish(newB);
    await waitFor(
      () => bb.node.stores.graph.has(newA.id) && a.node.stores.graph.has(newB.id),
      "live records to cross",
    );
    assert.deepEqual(frontierIds(a), frontierIds(b));
  } finally {
    await stopAll(b, a);
  }
});

Deno.test("three-node fan-out A->B->C, and control events cross two hops", async () => {
  // No PEX dialing anywhere: A must not learn C's address from B and dial it directly.
  const a = await startNode({ targetOutbound: 0 });
  const b = await startNode({ peers: [a.address], targetOutbound: 0 });
  const seen: { event: ControlEvent; from: PeerInfo | null }[] = [];
  const c = await startNode({
    peers: [b.address],
    targetOutbound: 0, // no PEX dialing: C must hear A only through B
  });
  c.node.onControl({
    onControl(event, from) {
      seen.push({ event, from });
      return Promise.resolve();
    },
  });
  try {
    await waitFor(() => a.node.peers().length === 1 && c.node.peers().length === 1, "links");
    await waitFor(() => b.node.peers().every((p) => p.nodeId), "hellos");
    const recs = makeRecords(20, vectorKey(2), { tag: "fan" });
    for (const r of recs) await a.node.publish(r);
    await waitFor(() => c.node.stores.graph.count() === 20, "records to reach C");
    assert.equal(c.node.peers().length, 1, "C is only connected to B");

    const event = signedChallenge(recs[0]!.id, vectorKey(0));
    assert.equal(await a.node.broadcastControl(event), true);
    assert.equal(await a.node.broadcastControl(event), false, "deduplicated by type+event_id");
    await waitFor(() => seen.length === 1, "the challenge to reach C's handler");
    assert.equal(seen[0]!.event.payload.event_id, event.payload.event_id);
    assert.equal(seen[0]!.event.payload.sig, event.payload.sig);
    assert.equal(seen[0]!.from?.nodeId, b.keys.nodeId);
    assert.ok(c.node.stores.control.has("challenge", event.payload.event_id));
    assert.ok(b.node.stores.control.has("challenge", event.payload.event_id));
  } finally {
    await stopAll(c, b, a);
  }
});

Deno.test("a fresh node syncs 10,000 records", async () => {
  const a = await startNode();
  const recs = makeRecords(10_000, vectorKey(3), { tag: "bulk" });
  a.node.stores.graph.insertMany(recs);
  let b: TestNode | undefined;
  try {
    const t0 = performance.now();
    b = await startNode({ peers: [a.address] });
    const bb = b;
    await waitFor(() => bb.node.stores.graph.count() === 10_000, "10,000 records", 60_000);
    const secs = (performance.now() - t0) / 1000;
    console.log(`  synced 10,000 records in ${secs.toFixed(2)} s`);
    assert.deepEqual(frontierIds(a), frontierIds(b));
    assert.equal(b.node.stats().invalid, 0);
  } finally {
    await stopAll(b, a);
  }
});

Deno.test("PEX lets C find A through B", async () => {
  const a = await startNode();
  const b = await startNode({ peers: [a.address] });
  await waitFor(() => a.node.peers().length === 1, "B connected to A");
  const c = await startNode({ peers: [b.address] });
  try {
    await waitFor(
      () => c.node.peers().some((p) => p.nodeId === a.keys.nodeId),
      "C to connect to A",
    );
    const viaPex = c.node.network.addresses().find((e) => e.address === a.address);
    assert.equal(viaPex?.source, "discovered");
    // Only real listening addresses travel: B's inbound ephemeral port from C is never listed.
    assert.ok(
      c.node.network.addresses().every((e) => e.address === a.address || e.address === b.address),
    );
  } finally {
    await stopAll(c, b, a);
  }
});

Deno.test("a restarted peer is reconnected and the second sync transfers only new records", async () => {
  const a = await startNode();
  a.node.stores.graph.insertMany(makeRecords(300, vectorKey(0), { tag: "base" }));
  let b = await startNode({ peers: [a.address] });
  const bDir = b.dir;
  const bKeys = b.keys;
  try {
    await waitFor(() => b.node.stores.graph.count() === 300, "first sync");
    assert.equal(b.node.stats().received, 300);
    // Records gossiped live while connected also count as synced (live sync marks).
    const live = makeRecords(5, vectorKey(3), { tag: "live", t0: 1_740_000_000 });
    for (const r of live) await a.node.publish(r);
    await waitFor(() => b.node.stores.graph.count() === 305, "live gossip");
    await new Promise((r) => setTimeout(r, 300)); // a few mark intervals at test timing
    // Let the cursor reach disk, then stop B (keeping its data dir).
    await b.node.network.flush();
    await b.stop(true);
    const fresh = makeRecords(25, vectorKey(1), { tag: "new", t0: 1_750_000_000 });
    for (const r of fresh) await a.node.publish(r);
    b = await startNode({ peers: [a.address], dir: bDir, keys: bKeys });
    await waitFor(() => b.node.stores.graph.count() === 330, "second sync");
    await b.node.network.flush();
    assert.equal(b.node.stats().received, 25, "only the new records crossed the wire");

    // A restarts on the same port: B redials it.
    const port = a.node.port;
    const aDir = a.dir;
    const aKeys = a.keys;
    await a.node.close();
    await waitFor(() => b.node.peers().length === 0, "B to see A go");
    const a2 = await startNode({ dir: aDir, keys: aKeys, port });
    try {
      await waitFor(
        () => b.node.peers().some((p) => p.nodeId === aKeys.nodeId),
        "B to reconnect to the restarted A",
      );
      const [late] = take(makeRecords(1, vectorKey(2), { tag: "late", t0: 1_760_000_000 }), 1);
      await a2.node.publish(late);
      await waitFor(() => b.node.stores.graph.has(late.id), "gossip after reconnect");
    } finally {
      await a2.stop();
    }
  } finally {
    await b.stop();
    await Deno.remove(a.dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("profiles and control events travel in sync, and live, with newest-profile-wins", async () => {
  const a = await startNode();
  const key = vectorKey(0);
  const recs = makeRecords(3, key, { tag: "pc" });
  a.node.stores.graph.insertMany(recs);
  const oldProfile = signProfile({
    node_id: key.nodeId,
    display_name: "old",
    bio: "",
    website: "",
    avatar_url: "",
    donation_address: "",
    timestamp: 100,
    schema_version: 1,
  }, key.seed);
  assert.equal(await a.node.publishProfile(oldProfile), true);
  assert.equal(await a.node.publishProfile({ ...oldProfile, display_name: "forged" }), false);
  const verification: ControlEvent = {
    type: "verification",
    payload: {
      event_id: `verification:${recs[0]!.id}:${key.nodeId}`,
      experiment_id: recs[0]!.id,
      verified_node_id: key.nodeId,
      verifier_id: key.nodeId,
      verifier_gpu: "CPU",
      verifier_bpb: -0.0,
      is_frontier: true,
    },
  };
  const signedVerification = signControl(verification, key.seed, key.nodeId);
  assert.equal(await a.node.broadcastControl(signedVerification), true);
  let b: TestNode | undefined;
  try {
    b = await startNode({ peers: [a.address] });
    const bb = b;
    await waitFor(
      () =>
        bb.node.stores.profiles.get(key.nodeId)?.display_name === "old" &&
        bb.node.stores.control.has("verification", verification.payload.event_id),
      "profile and control event through sync",
    );
    const logged = b.node.stores.control.get("verification", verification.payload.event_id)!;
    assert.ok(Object.is(logged.verifier_bpb, -0), "-0.0 survives the trip");
    const newer = signProfile({ ...oldProfile, display_name: "new", timestamp: 200 }, key.seed);
    assert.equal(await a.node.publishProfile(newer), true);
    await waitFor(() => bb.node.stores.profiles.get(key.nodeId)?.display_name === "new", "live");
    assert.equal(await b.node.publishProfile(oldProfile), false, "an older profile never wins");
  } finally {
    await stopAll(b, a);
  }
});

Deno.test("self-connections and duplicate connections are dropped", async () => {
  const a = await startNode();
  const b = await startNode({ peers: [a.address] });
  try {
    a.node.network.connect(b.address); // both dial each other: one link must remain
    a.node.network.connect(a.address); // and A dials itself
    await waitFor(() => a.node.peers().length === 1 && b.node.peers().length === 1, "one link");
    await new Promise((r) => setTimeout(r, 600)); // several redial rounds at test timing
    assert.equal(a.node.peers().length, 1);
    assert.equal(b.node.peers().length, 1);
    assert.equal(a.node.peers()[0]!.nodeId, b.keys.nodeId);
    const [rec] = take(makeRecords(1, vectorKey(4), { tag: "dup" }), 1);
    await a.node.publish(rec);
    await waitFor(() => b.node.stores.graph.has(rec.id), "gossip over the kept link");
    assert.equal(b.node.stats().duplicates, 0, "no second link delivering copies");
  } finally {
    await stopAll(b, a);
  }
});

Deno.test("a forged unsigned copy relayed first does not block the genuine signed event", async () => {
  const a = await startNode();
  let b: TestNode | undefined;
  try {
    b = await startNode({ peers: [a.address] });
    const bb = b;
    await waitFor(() => a.node.peers().length === 1 && bb.node.peers().length === 1, "link");
    const key = vectorKey(0);
    const challenge: ControlEvent = {
      type: "challenge",
      payload: {
        event_id: `challenge:${"e".repeat(64)}:${key.nodeId}`,
        experiment_id: "e".repeat(64),
        challenger_id: key.nodeId,
        challenger_bpb: 1.5,
        challenger_gpu: "CPU",
      },
    };
    // The rogue copy: right event id, no signature. Relayed, never logged.
    assert.equal(await a.node.broadcastControl(challenge), true);
    assert.equal(await a.node.broadcastControl(challenge), false, "relayed once");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(a.node.stores.control.has("challenge", challenge.payload.event_id), false);
    assert.equal(bb.node.stores.control.has("challenge", challenge.payload.event_id), false);
    const genuine = signControl(challenge, key.seed, key.nodeId);
    assert.equal(await a.node.broadcastControl(genuine), true);
    await waitFor(
      () =>
        bb.node.stores.control.get("challenge", challenge.payload.event_id)?.sig ===
          genuine.payload.sig,
      "the signed event to be logged on B",
    );
  } finally {
    await stopAll(b, a);
  }
});
