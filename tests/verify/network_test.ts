/**
 * Five or more in-process nodes (own data dir, stores, keys, stand-in trainer, verifier) sharing
 * records and control events over an in-memory bus: the must-show scenarios of issue 7.
 */
import assert from "node:assert/strict";
import type { ControlEvent, DisputePayload } from "../../src/protocol/mod.ts";
import { Bus, key, ledgerViews, makeRecord, signAs, type TestNode } from "./helpers.ts";

const A100 = { gpu: "NVIDIA A100-SXM4-80GB", gpuClass: "A100" };

/**
 * A bus with nodes 0..n-1; node 1 spot-checks everything (rate 1), the rest never do. Each node
 * has published one earlier record, synced before the verifiers started watching.
 */
async function network(classes: ("H100" | "A100")[]): Promise<{ bus: Bus; nodes: TestNode[] }> {
  const bus = await Bus.create();
  const nodes: TestNode[] = [];
  for (let i = 0; i < classes.length; i++) {
    const spec = classes[i] === "A100" ? { ...A100 } : {};
    nodes.push(await bus.addNode(i, { ...spec, spotCheckRate: i === 1 ? 1 : 0 }));
  }
  for (let i = 0; i < classes.length; i++) {
    bus.publish(makeRecord(key(i), classes[i] === "A100" ? { gpu: A100.gpu } : {}), true);
  }
  return { bus, nodes };
}

function ids(nodes: readonly TestNode[]): string[] {
  return nodes.map((n) => n.id);
}

function disputeOf(node: TestNode, experimentId: string): DisputePayload | undefined {
  const row = node.verifier.evidence(experimentId).find((r) => r.event.type === "dispute");
  return row?.event.payload as DisputePayload | undefined;
}

Deno.test("an honest publisher is verified and scores move by the table's deltas on every node", async () => {
  const { bus, nodes } = await network(["H100", "H100", "H100", "H100", "H100"]);
  try {
    const rec = makeRecord(key(0));
    bus.publish(rec);
    await bus.settle();
    for (const view of ledgerViews(nodes, ids(nodes))) {
      const [publisher, checker, ...rest] = view;
      assert.ok(publisher && checker);
      // A genesis keep record is on the frontier: +2.0; the checker +0.5.
      assert.deepEqual(
        [publisher.score, publisher.experiments_verified],
        [2.0, 1],
      );
      assert.deepEqual([checker.score, checker.verifications_performed], [0.5, 1]);
      for (const r of rest) assert.equal(r?.score, 0);
    }
    for (const n of nodes) assert.ok(n.stores.graph.isVerified(rec.record.id));
    assert.equal(nodes[1]!.trainer.runs, 1);
  } finally {
    await bus.close();
  }
});

Deno.test("a publisher claiming better than its code is challenged, answered by three, rejected: -5.0 everywhere", async () => {
  const { bus, nodes } = await network(["H100", "H100", "H100", "H100", "H100"]);
  try {
    const rec = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(rec);
    await bus.settle();
    const d = disputeOf(nodes[1]!, rec.record.id);
    assert.ok(d);
    assert.equal(d.outcome, "rejected");
    assert.equal(d.verifier_count, 3);
    assert.deepEqual([...(d.verifier_ids as string[])].sort(), ids(nodes.slice(2)).sort());
    const views = ledgerViews(nodes, ids(nodes));
    for (const [publisher, challenger, ...verifiers] of views) {
      assert.ok(publisher && challenger);
      assert.deepEqual([publisher.score, publisher.disputes_lost], [-5.0, 1]);
      assert.deepEqual([challenger.score, challenger.disputes_won], [1.0, 1]);
      for (const v of verifiers) assert.deepEqual([v?.score, v?.verifications_performed], [0.5, 1]);
    }
    for (const v of views) assert.deepEqual(v, views[0]);
    for (const n of nodes) assert.equal(n.verifier.pendingChallenges().length, 0);
    assert.equal(bus.clock.armed, 0, "the deadline timer is cleared once resolved");
  } finally {
    await bus.close();
  }
});

Deno.test("with only one other same-class node the challenge wants one response", async () => {
  const { bus, nodes } = await network(["H100", "H100", "H100", "A100", "A100"]);
  try {
    const rec = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(rec);
    await bus.settle();
    const d = disputeOf(nodes[1]!, rec.record.id);
    assert.ok(d, "resolved without waiting for the timeout");
    assert.deepEqual([d.outcome, d.verifier_count, d.verifier_ids], ["rejected", 1, [
      nodes[2]!.id,
    ]]);
    assert.equal(nodes[3]!.trainer.runs + nodes[4]!.trainer.runs, 0, "other classes never rerun");
    for (const [publisher, challenger, verifier] of ledgerViews(nodes, ids(nodes))) {
      assert.deepEqual([publisher?.score, challenger?.score, verifier?.score], [-5.0, 1.0, 0.5]);
    }
  } finally {
    await bus.close();
  }
});

Deno.test("with no independent same-class node there is no challenge", async () => {
  const { bus, nodes } = await network(["H100", "H100", "A100", "A100", "A100"]);
  try {
    const rec = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(rec);
    await bus.settle();
    assert.equal(nodes[1]!.trainer.runs, 1, "the spot-check ran");
    for (const n of nodes) {
      assert.equal(n.stores.control.maxSeq(), 0);
      assert.equal(n.verifier.pendingChallenges().length, 0);
    }
    for (const view of ledgerViews(nodes, ids(nodes))) {
      for (const r of view) assert.equal(r.score, 0);
    }
  } finally {
    await bus.close();
  }
});

Deno.test("forged, wrongly signed, contradicting and replayed events change no score anywhere", async () => {
  // Node 5 is the rogue: an H100 node with a real key but no verifier behaviour of its own.
  const { bus, nodes } = await network(["H100", "H100", "H100", "H100", "H100"]);
  try {
    const rogue = key(5);
    const honest = makeRecord(key(0));
    bus.publish(honest);
    const cheat = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(cheat);
    await bus.settle();
    // Honest challenge by the rogue (a real rerun would agree), answered by the honest nodes.
    const challenge = signAs({
      type: "challenge",
      payload: {
        event_id: `challenge:${honest.record.id}:${rogue.nodeId}`,
        experiment_id: honest.record.id,
        challenger_id: rogue.nodeId,
        challenger_bpb: honest.record.val_bpb + 0.05,
        challenger_gpu: "H100",
      },
    } as ControlEvent, rogue);
    bus.broadcast(null, challenge);
    await bus.settle();
    const everyone = [...ids(nodes), rogue.nodeId];
    const before = ledgerViews(nodes, everyone);
    const answered = nodes.slice(1).map((n) => n.id);
    // 1. A dispute with the outcome the evidence contradicts, properly signed by the challenger.
    const lie: ControlEvent = signAs({
      type: "dispute",
      payload: {
        event_id: `dispute:${honest.record.id}:${rogue.nodeId}`,
        experiment_id: honest.record.id,
        original_node_id: key(0).nodeId,
        challenger_id: rogue.nodeId,
        challenger_bpb: honest.record.val_bpb + 0.05,
        outcome: "rejected",
        ground_truth_bpb: honest.record.val_bpb + 0.05,
        verifier_count: answered.length,
        verifier_ids: answered,
      },
    }, rogue);
    // 2. The same dispute unsigned. 3. A dispute in node 1's name signed by the rogue's key.
    // 4. The same forged claim unsigned.
    const { signer: _s, sig: _g, ...bare } = lie.payload;
    const unsigned = { type: "dispute", payload: bare } as ControlEvent;
    const inNode1Name = {
      ...bare,
      event_id: `dispute:${honest.record.id}:${nodes[1]!.id}`,
      challenger_id: nodes[1]!.id,
    };
    const posing = signAs({ type: "dispute", payload: inNode1Name } as ControlEvent, rogue);
    const fakeClaim = { type: "dispute", payload: inNode1Name } as ControlEvent;
    for (const e of [unsigned, posing, fakeClaim, lie]) bus.broadcast(null, e);
    // 5. Replays of every event every node holds.
    for (const n of nodes) {
      for (const e of n.stores.control.afterSeq(0, 1000)) {
        bus.broadcast(null, { type: e.type, payload: e.payload } as ControlEvent);
      }
    }
    await bus.settle();
    assert.deepEqual(ledgerViews(nodes, everyone), before);
    for (const n of nodes) {
      assert.equal(n.verifier.applier.held("dispute", lie.payload.event_id)?.state, "invalid");
      assert.equal(n.verifier.applier.held("dispute", inNode1Name.event_id), undefined);
      const ignored = n.logs.filter((l) => l.includes("ignored dispute"));
      assert.ok(ignored.some((l) => l.endsWith("authentication: unsigned")));
      assert.ok(ignored.some((l) => l.endsWith("authentication: wrong_signer")));
    }
  } finally {
    await bus.close();
  }
});

Deno.test("a challenger restarting mid-challenge resumes and every ledger converges", async () => {
  const { bus, nodes } = await network(["H100", "H100", "H100", "H100", "H100"]);
  try {
    const rec = makeRecord(key(0), { claimOffset: -0.05 });
    // Hold back node 2's and node 3's answers: they are down while the challenge goes out.
    await nodes[2]!.stop();
    bus.publish(rec);
    await bus.settle();
    const challenger = nodes[1]!;
    assert.equal(challenger.verifier.pendingChallenges().length, 1);
    assert.equal(challenger.verifier.pendingChallenges()[0]!.required, 3);
    // The challenger goes down with one of three responses; the others arrive while it is down.
    await challenger.stop();
    await nodes[2]!.start();
    await bus.syncTo(nodes[2]!);
    assert.equal(nodes[2]!.trainer.runs, 1, "node 2 answered the challenge it learned by sync");
    await challenger.start();
    assert.equal(challenger.verifier.pendingChallenges().length, 1, "the open challenge survived");
    await bus.syncTo(challenger);
    assert.equal(challenger.verifier.pendingChallenges().length, 0);
    const d = disputeOf(challenger, rec.record.id);
    assert.deepEqual([d?.outcome, d?.verifier_count], ["rejected", 3]);
    const views = ledgerViews(nodes, ids(nodes));
    for (const v of views) assert.deepEqual(v, views[0]);
    assert.deepEqual(views[0]!.map((r) => r.score), [-5.0, 1.0, 0.5, 0.5, 0.5]);
  } finally {
    await bus.close();
  }
});

Deno.test("a restarted challenger whose deadline passed resolves with the responses it has", async () => {
  const { bus, nodes } = await network(["H100", "H100", "H100", "H100", "H100"]);
  try {
    const rec = makeRecord(key(0), { claimOffset: -0.05 });
    await nodes[3]!.stop();
    await nodes[4]!.stop();
    bus.publish(rec);
    await bus.settle();
    const challenger = nodes[1]!;
    assert.equal(challenger.verifier.pendingChallenges()[0]!.required, 3);
    assert.equal(disputeOf(challenger, rec.record.id), undefined, "one of three: still waiting");
    await challenger.stop();
    bus.clock.advance(1800_000);
    await challenger.start();
    await bus.settle();
    const d = disputeOf(challenger, rec.record.id);
    assert.deepEqual([d?.outcome, d?.verifier_count], ["rejected", 1]);
    const up = nodes.filter((n) => n.up);
    const views = ledgerViews(up, ids(nodes));
    for (const v of views) assert.deepEqual(v, views[0]);
    assert.deepEqual(views[0]!.map((r) => r.score), [-5.0, 1.0, 0.5, 0, 0]);
    // Nodes that were down catch up by sync. Their stand-in reruns are instant, so they answer
    // the challenge before the dispute reaches them: late answers are valid reruns, credited
    // on every node alike, and every ledger still converges.
    for (const n of [nodes[3]!, nodes[4]!]) {
      await n.start();
      await bus.syncTo(n);
    }
    await bus.settle();
    const after = ledgerViews(nodes, ids(nodes));
    for (const v of after) assert.deepEqual(v, after[0]);
    assert.deepEqual(after[0]!.slice(0, 3), views[0]!.slice(0, 3));
  } finally {
    await bus.close();
  }
});
