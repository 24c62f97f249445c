/** The live run (what the node trains now) and its stored loss curve. */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../src/protocol/crypto.ts";
import { type LiveRun, type LiveRunHandle, LiveRuns } from "../../src/research/live_run.ts";
import { sha256Hex, signRecord } from "../../src/protocol/mod.ts";
import type { ExperimentRecord } from "../../src/protocol/types.ts";
import { ResearchLoop } from "../../src/research/loop.ts";
import { MutatorProposer, seededRandom } from "../../src/research/mutator.ts";
import { MAX_CURVE_POINTS } from "../../src/store/mod.ts";
import type { TrainOutcome, TrainProgressUpdate } from "../../src/node_types.ts";
import { FakeNode, FakeTrainer } from "./fakes.ts";

class NodeWithRuns extends FakeNode {
  readonly runs = new LiveRuns(this.stores.runs);
}

/** Prints `steps` progress lines (loss falling) before answering like FakeTrainer. */
class SteppingTrainer extends FakeTrainer {
  constructor(readonly steps: number) {
    super();
  }

  override run(
    code: string,
    opts: { onProgress?: (u: TrainProgressUpdate) => void } = {},
  ): Promise<TrainOutcome> {
    opts.onProgress?.({ phase: "starting", elapsedSeconds: 0 });
    for (let s = 1; s <= this.steps; s++) {
      opts.onProgress?.({
        phase: "training",
        elapsedSeconds: s,
        step: s,
        percent: (100 * s) / this.steps,
        loss: 5 / s,
      });
    }
    return super.run(code);
  }
}

async function withNode(fn: (node: NodeWithRuns) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spore-live-run-" });
  const node = new NodeWithRuns(dir);
  try {
    await fn(node);
  } finally {
    node.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("live run: the research loop reports each run and stores its loss curve", async () => {
  await withNode(async (node) => {
    const seen: LiveRun[] = [];
    node.runs.on((r) => seen.push(r));
    let t = 1_800_000_000_000;
    const summary = await new ResearchLoop({
      node,
      trainer: new SteppingTrainer(20),
      keys: generateKeyPair(),
      proposer: new MutatorProposer(seededRandom(1)),
      maxExperiments: 2,
      random: () => 0.99,
      now: () => (t += 1000),
    }).run();
    assert.equal(summary.published, 2);
    const baseline = seen.filter((r) => r.run === 1);
    assert.equal(baseline[0]!.kind, "baseline");
    assert.equal(baseline[0]!.phase, "starting");
    const mid = baseline.find((r) => r.step === 10)!;
    assert.equal(mid.total_steps, 20);
    assert.equal(mid.loss, 0.5);
    assert.equal(mid.eta_seconds, 10);
    const done = baseline[baseline.length - 1]!;
    assert.equal(done.phase, "finished");
    const base = node.published[0]!.record;
    assert.equal(done.result?.id, base.id);

    const exp = seen.filter((r) => r.run === 2);
    assert.equal(exp[0]!.kind, "experiment");
    assert.equal(exp[0]!.label, "experiment 1/2");
    assert.equal(exp[0]!.mode, "exploit");
    assert.equal(exp[0]!.parent, base.id);
    assert.equal(exp[0]!.parent_val_bpb, base.val_bpb);
    assert.match(exp[0]!.description, /\S/);

    // Each published run's curve: 20 points, step 1 first, loss 5/step.
    for (const { record } of node.published) {
      const curve = node.stores.runs.get(record.id)!;
      assert.equal(curve.length, 20);
      assert.deepEqual(curve[0], [1, 5]);
      assert.deepEqual(curve[19], [20, 0.25]);
    }
  });
});

Deno.test("live run: a long run's curve stays bounded, evenly spaced, with its last point", () => {
  const runs = new LiveRuns();
  const run = runs.start({ kind: "baseline", label: "baseline", description: "baseline" });
  const steps = MAX_CURVE_POINTS * 5 + 3;
  for (let s = 0; s <= steps; s++) {
    run.progress({ phase: "training", elapsedSeconds: s, step: s, percent: 50, loss: 1 });
  }
  const curve = runs.curve();
  assert.ok(curve.length <= MAX_CURVE_POINTS, `${curve.length}`);
  assert.ok(curve.length >= MAX_CURVE_POINTS / 4, `${curve.length}`);
  assert.deepEqual(curve[curve.length - 1], [steps, 1]);
  const gaps = new Set(curve.slice(1, -1).map(([s], i) => s - curve[i]![0]));
  assert.equal(gaps.size, 1, `uneven spacing ${[...gaps]}`);
});

Deno.test("live run: a stopped run ignores later progress and says so", () => {
  const runs = new LiveRuns();
  assert.equal(runs.current(), undefined);
  const run = runs.start({ kind: "baseline", label: "baseline", description: "baseline" });
  run.stop();
  run.progress({ phase: "training", elapsedSeconds: 3, step: 3, percent: 2, loss: 1 });
  assert.equal(runs.current()?.phase, "stopped");
  assert.equal(runs.current()?.step, null);
});

/** Another node's record, as the verifier reruns it. */
function foreignRecord(): ExperimentRecord {
  const code = new TextEncoder().encode("print('theirs')\n");
  return signRecord({
    version: 1,
    parent: null,
    depth: 0,
    code_cid: sha256Hex(code),
    diff: "",
    dataset_cid: "d".repeat(64),
    prepare_cid: "e".repeat(64),
    time_budget: 300,
    val_bpb: 1.25,
    peak_vram_mb: 0,
    num_steps: 4,
    num_params: 1000,
    status: "keep",
    description: "wider MLP",
    hypothesis: "more capacity helps",
    agent_model: "test",
    gpu_model: "CPU",
    cuda_version: "cpu",
    torch_version: "1.13",
    node_id: generateKeyPair().nodeId,
    timestamp: 1_800_000_000,
  }, generateKeyPair().seed);
}

function steps(run: LiveRunHandle, n: number, loss: (s: number) => number): void {
  for (let s = 1; s <= n; s++) {
    run.progress({
      phase: "training",
      elapsedSeconds: 2 * s,
      step: s,
      percent: (100 * s) / n,
      loss: loss(s),
      remainingSeconds: 2 * (n - s),
    });
  }
}

Deno.test("live run: a verification rerun shows its claim, progress and verdict; its curve is not stored", async () => {
  await withNode((node) => {
    const rec = foreignRecord();
    const seen: LiveRun[] = [];
    node.runs.on((r) => seen.push(r));
    const run = node.runs.startVerification(rec, "verifying abc from def");
    const first = node.runs.current()!;
    assert.equal(first.kind, "verification");
    assert.equal(first.label, "verifying abc from def");
    assert.deepEqual(first.verifies, {
      id: rec.id,
      node_id: rec.node_id,
      claimed_val_bpb: 1.25,
    });
    assert.equal(first.description, "wider MLP");
    assert.equal(first.parent, null, "a rerun has no parent of this node's");
    steps(run, 8, (s) => 3 / s);
    const mid = seen.find((r) => r.step === 4)!;
    assert.deepEqual([mid.phase, mid.loss, mid.total_steps, mid.eta_seconds], [
      "training",
      0.75,
      8,
      8,
    ]);
    assert.equal(node.runs.curve().length, 8, "the card shows the rerun's loss while it runs");
    run.verdict({
      outcome: "verified",
      val_bpb: 1.2501,
      within_tolerance: true,
      detail: "x".repeat(1000),
    });
    const done = node.runs.current()!;
    assert.equal(done.phase, "finished");
    assert.equal(done.eta_seconds, null);
    assert.equal(done.result, null, "nothing was published");
    assert.deepEqual(
      [done.verdict?.outcome, done.verdict?.val_bpb, done.verdict?.within_tolerance],
      ["verified", 1.2501, true],
    );
    assert.equal(done.verdict?.detail.length, 300, "the detail line is bounded");
    assert.deepEqual(seen[seen.length - 1], done);
    // Another node's experiment: our rerun's curve must not read as its publisher's training.
    assert.equal(node.stores.runs.get(rec.id), undefined);
    // A research run's curve, through the same store, is kept (the check above can fail).
    const own = node.runs.start({ kind: "baseline", label: "baseline", description: "baseline" });
    steps(own, 3, (s) => 1 / s);
    own.finish(rec);
    assert.equal(node.stores.runs.get(rec.id)?.length, 3);
    // Ended: later calls change nothing.
    run.stop();
    run.progress({ phase: "training", elapsedSeconds: 99, step: 99, percent: 99, loss: 9 });
    assert.equal(node.runs.current()?.kind, "baseline");
  });
});

Deno.test("live run: a run queued behind a training one takes the card at its first progress", () => {
  const runs = new LiveRuns();
  const seen: LiveRun[] = [];
  runs.on((r) => seen.push(r));
  const rerun = runs.startVerification(foreignRecord(), "verifying a from b");
  steps(rerun, 2, () => 1);
  // The research loop announces its next experiment while the rerun still trains.
  const exp = runs.start({ kind: "experiment", label: "experiment 1", description: "lr 2x" });
  assert.equal(runs.current()?.kind, "verification", "the training run keeps the card");
  assert.equal(seen.filter((r) => r.kind === "experiment").length, 0);
  rerun.verdict({ outcome: "no verdict", val_bpb: null, within_tolerance: null, detail: "x" });
  assert.equal(runs.current()?.phase, "finished", "the rerun's verdict is shown");
  exp.progress({ phase: "starting", elapsedSeconds: 0 });
  assert.equal(runs.current()?.label, "experiment 1");
  assert.deepEqual(runs.curve(), [], "the new run's curve starts empty");
  steps(exp, 3, (s) => s);
  assert.equal(runs.current()?.step, 3);
  // A run that never trained and is stopped does not take the card.
  const idle = runs.startVerification(foreignRecord(), "verifying c from d");
  idle.stop();
  assert.equal(runs.current()?.label, "experiment 1");
});
