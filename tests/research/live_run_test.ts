/** The live run (what the node trains now) and its stored loss curve. */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../src/protocol/crypto.ts";
import { type LiveRun, LiveRuns } from "../../src/research/live_run.ts";
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
  runs.start({ kind: "baseline", label: "baseline", description: "baseline" });
  const steps = MAX_CURVE_POINTS * 5 + 3;
  for (let s = 0; s <= steps; s++) {
    runs.progress({ phase: "training", elapsedSeconds: s, step: s, percent: 50, loss: 1 });
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
  runs.start({ kind: "baseline", label: "baseline", description: "baseline" });
  runs.stop();
  runs.progress({ phase: "training", elapsedSeconds: 3, step: 3, percent: 2, loss: 1 });
  assert.equal(runs.current()?.phase, "stopped");
  assert.equal(runs.current()?.step, null);
});
