/** The Verifier service with stand-ins: timeouts, restarts, failed reruns, pile-ons. */
import assert from "node:assert/strict";
import type { ControlEvent, DisputePayload } from "../../src/protocol/mod.ts";
import { openStores } from "../../src/store/mod.ts";
import { key, ledgerViews, makeRecord, network, type TestNode } from "./helpers.ts";
import { take } from "../tuple.ts";

function dispute(node: TestNode, experimentId: string): DisputePayload | undefined {
  const row = node.verifier.evidence(experimentId).find((r) => r.event.type === "dispute");
  return row?.event.payload as DisputePayload | undefined;
}

function controlTypes(node: TestNode): string[] {
  return node.stores.control.afterSeq(0, 100).map((e) => e.type);
}

Deno.test("the challenger resolves at the timeout with fewer responses than wanted", async () => {
  const { bus, nodes } = await network(5);
  try {
    await nodes[3]!.stop();
    await nodes[4]!.stop();
    const rec = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(rec);
    await bus.settle();
    assert.equal(dispute(nodes[1]!, rec.record.id), undefined);
    bus.clock.advance(1800_000 - 1);
    await bus.settle();
    assert.equal(dispute(nodes[1]!, rec.record.id), undefined, "not before the deadline");
    bus.clock.advance(1);
    await bus.settle();
    const d = dispute(nodes[1]!, rec.record.id);
    assert.deepEqual([d?.outcome, d?.verifier_count, d?.verifier_ids], ["rejected", 1, [
      nodes[2]!.id,
    ]]);
    for (const node of [nodes[0]!, nodes[2]!]) assert.ok(dispute(node, rec.record.id));
  } finally {
    await bus.close();
  }
});

Deno.test("a timeout longer than a timer can hold waits in slices", async () => {
  const sixtyDays = 60 * 86_400_000;
  const { bus, nodes } = await network(3, [1], sixtyDays);
  try {
    await nodes[2]!.stop();
    bus.publish(makeRecord(key(0), { claimOffset: -0.05 }));
    await bus.settle();
    bus.clock.advance(2 ** 31 - 1);
    await bus.settle();
    assert.equal(nodes[1]!.verifier.pendingChallenges().length, 1, "still waiting after 24.8 days");
    assert.equal(bus.clock.armed, 1);
    bus.clock.advance(2 ** 31 - 1);
    await bus.settle();
    assert.equal(nodes[1]!.verifier.pendingChallenges().length, 1, "still waiting after 49.7 days");
    assert.equal(bus.clock.armed, 1, "another slice");
    bus.clock.advance(sixtyDays - 2 * (2 ** 31 - 1));
    await bus.settle();
    assert.deepEqual(nodes[1]!.verifier.pendingChallenges(), []);
    assert.equal(bus.clock.armed, 0);
  } finally {
    await bus.close();
  }
});

Deno.test("a challenge nobody answers closes at the deadline without a dispute", async () => {
  const { bus, nodes } = await network(3);
  try {
    await nodes[2]!.stop(); // counted as available (it published H100 records), but down
    const rec = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(rec);
    await bus.settle();
    assert.equal(nodes[1]!.verifier.pendingChallenges()[0]!.required, 1);
    bus.clock.advance(1800_000);
    await bus.settle();
    assert.deepEqual(nodes[1]!.verifier.pendingChallenges(), []);
    assert.deepEqual(controlTypes(nodes[1]!), ["challenge"]);
    for (const r of ledgerViews(nodes.slice(0, 2), [key(0).nodeId, key(1).nodeId]).flat()) {
      assert.equal(r.score, 0);
    }
  } finally {
    await bus.close();
  }
});

Deno.test("a verifier stopped mid-rerun keeps its promise and answers after restart", async () => {
  const { bus, nodes } = await network(5);
  try {
    const slow = nodes[3]!;
    slow.trainer.stall = true;
    const rec = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(rec);
    await bus.settle([slow]);
    assert.deepEqual(slow.verifier.owedAnswers(), [
      { experimentId: rec.record.id, challengerId: nodes[1]!.id },
    ]);
    assert.equal(dispute(nodes[1]!, rec.record.id), undefined, "two of three: still waiting");
    await slow.stop();
    slow.trainer.stall = false;
    await slow.start();
    await bus.settle();
    assert.deepEqual(slow.verifier.owedAnswers(), []);
    const d = dispute(nodes[1]!, rec.record.id);
    assert.deepEqual([d?.outcome, d?.verifier_count], ["rejected", 3]);
    const views = ledgerViews(nodes, nodes.map((n) => n.id));
    for (const v of views) assert.deepEqual(v, views[0]);
    assert.deepEqual(views[0]!.map((r) => r.score), [-5.0, 1.0, 0.5, 0.5, 0.5]);
  } finally {
    await bus.close();
  }
});

Deno.test("two checkers challenging the same claim cost the publisher -5.0 once", async () => {
  const { bus, nodes } = await network(6, [1, 2]);
  try {
    const rec = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(rec);
    await bus.settle();
    assert.ok(dispute(nodes[1]!, rec.record.id));
    assert.ok(dispute(nodes[2]!, rec.record.id));
    const views = ledgerViews(nodes, nodes.map((n) => n.id));
    for (const v of views) assert.deepEqual(v, views[0]);
    const [publisher, c1, c2] = take(views[0]!, 3);
    assert.deepEqual([publisher.score, publisher.disputes_lost], [-5.0, 1]);
    assert.equal(c1.disputes_won, 1);
    assert.equal(c2.disputes_won, 1);
  } finally {
    await bus.close();
  }
});

Deno.test("failed reruns, missing or altered code and another workspace emit nothing", async () => {
  const { bus, nodes } = await network(3);
  try {
    const checker = nodes[1]!;
    checker.trainer.crash = true;
    bus.publish(makeRecord(key(0)));
    await bus.settle();
    assert.equal(checker.trainer.runs, 1);
    checker.trainer.crash = false;
    // Code the bus does not have.
    const missing = makeRecord(key(0));
    bus.publish(missing);
    bus.artifacts.delete(missing.record.code_cid);
    // Code whose bytes do not hash to the cid.
    const altered = makeRecord(key(0));
    bus.publish(altered);
    bus.artifacts.set(altered.record.code_cid, new TextEncoder().encode("print('other')"));
    // A record made with another prepare.py: its val_bpb is not comparable with ours.
    bus.publish(makeRecord(key(0), { prepareCid: "cd".repeat(32) }));
    await bus.settle();
    assert.equal(checker.trainer.runs, 1, "nothing comparable to run");
    assert.ok(checker.logs.some((l) => l.includes("not comparable")));
    for (const n of nodes) assert.deepEqual(controlTypes(n), []);
    assert.ok(checker.logs.some((l) => l.includes("unavailable")));
  } finally {
    await bus.close();
  }
});

Deno.test("a record is spot-checked once, and never when it is the node's own", async () => {
  const { bus, nodes } = await network(3);
  try {
    const rec = makeRecord(key(0));
    bus.publish(rec);
    await bus.settle();
    nodes[1]!.verifier.onRecord(rec.record, "peer");
    await bus.settle();
    assert.equal(nodes[1]!.trainer.runs, 1);
    bus.publish(makeRecord(key(1)));
    await bus.settle();
    assert.equal(nodes[1]!.trainer.runs, 1);
  } finally {
    await bus.close();
  }
});

Deno.test("events before their record wait, then apply when the record arrives", async () => {
  const { bus, nodes } = await network(3);
  try {
    // Node 2 is down while the record is published and verified.
    await nodes[2]!.stop();
    const rec = makeRecord(key(0));
    bus.publish(rec);
    await bus.settle();
    await nodes[2]!.start();
    // The verification reaches node 2 before the record does.
    for (const e of nodes[1]!.stores.control.afterSeq(0, 10)) {
      await nodes[2]!.verifier.onControl(
        { type: e.type, payload: e.payload } as ControlEvent,
        null,
      );
    }
    assert.equal(nodes[2]!.stores.reputation.get(key(0).nodeId).score, 0);
    nodes[2]!.stores.graph.insert(rec.record);
    nodes[2]!.verifier.onRecord(rec.record, "peer");
    await bus.settle();
    assert.equal(nodes[2]!.stores.reputation.get(key(0).nodeId).score, 2.0);
    assert.equal(nodes[2]!.trainer.runs, 0, "spot-check rate 0");
  } finally {
    await bus.close();
  }
});

Deno.test("garbage from the network is dropped and work stops after close", async () => {
  const { bus, nodes } = await network(3);
  try {
    const v = nodes[2]!.verifier;
    for (const raw of [null, 42, { type: "dispute" }, { type: "x", payload: {} }]) {
      await v.onControl(raw as unknown as ControlEvent, null);
    }
    assert.ok(nodes[2]!.logs.every((l) => l.startsWith("info: ignored")));
    assert.equal(nodes[2]!.logs.length, 4);
    await nodes[1]!.stop();
    // A closed verifier ignores records instead of touching closed stores.
    nodes[1]!.verifier.onRecord(makeRecord(key(0)).record, "peer");
    assert.equal(nodes[1]!.trainer.runs, 0);
  } finally {
    await bus.close();
  }
});

Deno.test("start() applies control events a sync wrote to the log while the verifier was down", async () => {
  const { bus, nodes } = await network(3);
  try {
    await nodes[2]!.stop();
    const rec = makeRecord(key(0));
    bus.publish(rec);
    await bus.settle();
    // Only the graph and the control log are written (as an incremental sync would).
    const stores = openStores(nodes[2]!.dir);
    try {
      stores.graph.insert(rec.record);
      for (const e of nodes[1]!.stores.control.afterSeq(0, 10)) {
        stores.control.append(e.type, e.payload);
      }
      assert.equal(stores.reputation.get(key(0).nodeId).score, 0);
    } finally {
      stores.close();
    }
    await nodes[2]!.start();
    assert.equal(nodes[2]!.stores.reputation.get(key(0).nodeId).score, 2.0);
    assert.equal(nodes[2]!.stores.reputation.get(key(1).nodeId).score, 0.5);
  } finally {
    await bus.close();
  }
});
