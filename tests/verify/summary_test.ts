/** The read-only verification view (`spore status`, explorer) over a node's verify.sqlite. */
import assert from "node:assert/strict";
import { readVerificationSummary } from "../../src/verify/mod.ts";
import { Bus, key, makeRecord } from "./helpers.ts";
import { take } from "../tuple.ts";

Deno.test("the summary shows verified count and an open challenge until the challenger stops waiting", async () => {
  const bus = await Bus.create();
  try {
    const nodes = [];
    for (let i = 0; i < 4; i++) {
      nodes.push(await bus.addNode(i, { spotCheckRate: i === 1 ? 1 : 0, timeoutMs: 60_000 }));
    }
    for (let i = 0; i < 4; i++) bus.publish(makeRecord(key(i)), true);
    const [publisher, challenger, v2, v3] = take(nodes, 4);
    assert.deepEqual(readVerificationSummary(challenger.dir), {
      verified_experiments: 0,
      open_challenges: [],
      owed_answers: 0,
      recent_disputes: [],
      refused_events: 0,
      pending_events: 0,
    });

    const honest = makeRecord(key(0));
    bus.publish(honest);
    await bus.settle();
    for (const n of nodes) assert.equal(readVerificationSummary(n.dir).verified_experiments, 1);

    // Answers stall: the challenge stays open, waiting on two verifiers.
    v2.trainer.stall = true;
    v3.trainer.stall = true;
    const cheat = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(cheat);
    await bus.settle([v2, v3]);
    const mine = readVerificationSummary(challenger.dir, { selfId: challenger.id });
    assert.equal(mine.open_challenges.length, 1);
    const open = mine.open_challenges[0]!;
    assert.equal(open.experiment_id, cheat.record.id);
    assert.equal(open.challenger_id, challenger.id);
    assert.equal(open.responses, 0);
    assert.equal(open.required, 2);
    assert.ok(open.deadline_ms !== null && open.deadline_ms > bus.clock.now());
    const theirs = readVerificationSummary(v2.dir);
    assert.equal(theirs.open_challenges[0]!.required, null, "only the challenger knows its wait");
    assert.equal(theirs.owed_answers, 1);
    assert.deepEqual(readVerificationSummary(publisher.dir).recent_disputes, []);

    // The deadline passes with no answers: the challenger closes it without a dispute.
    await v2.stop();
    await v3.stop();
    bus.clock.advance(60_000);
    await bus.settle();
    const after = readVerificationSummary(challenger.dir, { selfId: challenger.id });
    assert.deepEqual([after.open_challenges, after.recent_disputes], [[], []]);
    assert.equal(readVerificationSummary(publisher.dir).open_challenges.length, 1);
  } finally {
    await bus.close();
  }
});

Deno.test("the summary lists a rejected dispute on every node", async () => {
  const bus = await Bus.create();
  try {
    const nodes = [];
    for (let i = 0; i < 5; i++) {
      nodes.push(await bus.addNode(i, { spotCheckRate: i === 1 ? 1 : 0 }));
    }
    for (let i = 0; i < 5; i++) bus.publish(makeRecord(key(i)), true);
    const cheat = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(cheat);
    await bus.settle();
    for (const n of nodes) {
      const s = readVerificationSummary(n.dir);
      assert.deepEqual(s.open_challenges, []);
      assert.equal(s.recent_disputes.length, 1);
      const d = s.recent_disputes[0]!;
      assert.deepEqual(
        [d.experiment_id, d.original_node_id, d.challenger_id, d.outcome, d.verifier_count],
        [cheat.record.id, nodes[0]!.id, nodes[1]!.id, "rejected", 3],
      );
      assert.ok(Math.abs(d.ground_truth_bpb - (cheat.record.val_bpb + 0.05)) < 1e-9);
    }
  } finally {
    await bus.close();
  }
});
