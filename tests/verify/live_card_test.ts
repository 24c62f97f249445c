/**
 * Verification reruns on the node's live run card: the rerun's subject and claim, the trainer's
 * step and loss, then what the verifier decided (verified, challenged, answered, no verdict).
 */
import assert from "node:assert/strict";
import { shortId } from "../../src/protocol/mod.ts";
import type { LiveRun } from "../../src/research/live_run.ts";
import { FAKE_STEPS, key, makeRecord, network, type TestNode, trueBpb } from "./helpers.ts";

/** Every state of the card a node shows, from now on. */
function watch(node: TestNode): LiveRun[] {
  const seen: LiveRun[] = [];
  node.runs.on((r) => seen.push(r));
  return seen;
}

Deno.test("a spot-check rerun shows its claim, step and loss, then 'verified'", async () => {
  const { bus, nodes } = await network(2);
  try {
    const checker = nodes[1]!;
    const seen = watch(checker);
    const rec = makeRecord(key(0), { code: "print('honest')\n" });
    bus.publish(rec);
    await bus.settle();
    const id = rec.record.id;
    assert.equal(seen[0]?.kind, "verification");
    assert.equal(seen[0]?.label, `verifying ${shortId(id)} from ${shortId(key(0).nodeId)}`);
    assert.deepEqual(seen[0]?.verifies, {
      id,
      node_id: key(0).nodeId,
      claimed_val_bpb: rec.record.val_bpb,
    });
    assert.equal(seen[0]?.description, rec.record.description);
    const mid = seen.find((r) => r.step === 2);
    assert.deepEqual([mid?.phase, mid?.loss, mid?.total_steps, mid?.eta_seconds], [
      "training",
      2,
      FAKE_STEPS,
      FAKE_STEPS - 2,
    ]);
    const done = checker.runs.current()!;
    assert.equal(done.phase, "finished");
    assert.equal(done.step, FAKE_STEPS);
    assert.deepEqual(done.verdict, {
      outcome: "verified",
      val_bpb: trueBpb("print('honest')\n"),
      within_tolerance: true,
      detail: "signed verification sent to peers",
    });
    assert.equal(checker.runs.curve().length, FAKE_STEPS);
    // Another node's experiment: the rerun's curve is not stored as this node's run of it.
    assert.equal(checker.stores.runs.get(id), undefined);
  } finally {
    await bus.close();
  }
});

Deno.test("an inflated claim reads 'challenged' on the checker and 'answered' on a verifier", async () => {
  const { bus, nodes } = await network(3);
  try {
    const rec = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(rec);
    await bus.settle();
    const truth = trueBpb(new TextDecoder().decode(rec.code));
    const challenged = nodes[1]!.runs.current()!;
    assert.equal(challenged.phase, "finished");
    assert.deepEqual(
      [
        challenged.verdict?.outcome,
        challenged.verdict?.val_bpb,
        challenged.verdict?.within_tolerance,
      ],
      ["challenged", truth, false],
    );
    assert.match(challenged.verdict!.detail, /challenged, waiting for 1/);
    // Node 2 reran it to answer node 1's challenge.
    const answered = nodes[2]!.runs.current()!;
    assert.equal(
      answered.label,
      `verifying ${shortId(rec.record.id)} from ${shortId(key(0).nodeId)} (to answer ${
        shortId(nodes[1]!.id)
      }'s challenge)`,
    );
    assert.equal(answered.verifies?.claimed_val_bpb, rec.record.val_bpb);
    assert.deepEqual(
      [answered.verdict?.outcome, answered.verdict?.val_bpb, answered.verdict?.within_tolerance],
      ["answered", truth, false],
    );
    // The publisher trained nothing: its card stays empty.
    assert.equal(nodes[0]!.runs.current(), undefined);
  } finally {
    await bus.close();
  }
});

Deno.test("a rerun with no verdict says why: no independent verifier, or the rerun failed", async () => {
  const { bus, nodes } = await network(2);
  try {
    const checker = nodes[1]!;
    bus.publish(makeRecord(key(0), { claimOffset: -0.05 }));
    await bus.settle();
    const alone = checker.runs.current()!;
    assert.deepEqual([alone.verdict?.outcome, alone.verdict?.within_tolerance], [
      "no verdict",
      false,
    ]);
    assert.match(alone.verdict!.detail, /no independent H100 verifier exists: no challenge/);

    checker.trainer.crash = true;
    bus.publish(makeRecord(key(0)));
    await bus.settle();
    const failed = checker.runs.current()!;
    assert.notEqual(failed.run, alone.run);
    assert.equal(failed.phase, "finished");
    assert.deepEqual(failed.verdict, {
      outcome: "no verdict",
      val_bpb: null,
      within_tolerance: null,
      detail: "the rerun failed: exit 1",
    });
  } finally {
    await bus.close();
  }
});

Deno.test("a rerun cut short by stopping the verifier shows as stopped", async () => {
  const { bus, nodes } = await network(2);
  try {
    const checker = nodes[1]!;
    checker.trainer.stall = true;
    bus.publish(makeRecord(key(0)));
    await bus.settle([checker]);
    const running = checker.runs.current()!;
    assert.deepEqual([running.phase, running.step], ["training", FAKE_STEPS]);
    await checker.stop();
    const stopped = checker.runs.current()!;
    assert.equal(stopped.phase, "stopped");
    assert.equal(stopped.verdict, null);
  } finally {
    await bus.close();
  }
});
