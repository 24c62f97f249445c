import assert from "node:assert/strict";
import { generateKeyPair } from "../../src/protocol/crypto.ts";
import type { ExperimentRecord } from "../../src/protocol/types.ts";
import {
  buildContext,
  diffSimilarity,
  exploreRate,
  nearDuplicate,
  selectParent,
  systemPrompt,
  userPrompt,
} from "../../src/research/coordinator.ts";
import { buildRecord, unifiedDiff } from "../../src/research/experiment.ts";
import { openStores } from "../../src/store/mod.ts";
import { BASELINE, edit } from "./fixtures.ts";

const keys = generateKeyPair();
let clock = 1000;

function rec(
  parent: ExperimentRecord | null,
  code: string,
  bpb: number | undefined,
  description: string,
  parentCode = BASELINE,
): ExperimentRecord {
  return buildRecord({
    parent,
    code,
    parentCode,
    description,
    hypothesis: `because ${description}`,
    agentModel: "m",
    env: { gpuModel: "cpu", gpuClass: "CPU", cudaVersion: "", torchVersion: "1" },
    workspace: { datasetCid: "d", prepareCid: "p" },
    timeBudget: 300,
    outcome: bpb === undefined ? { ok: false, crashReason: "oom" } : { ok: true, val_bpb: bpb },
    keys,
    timestamp: clock++,
  }).record;
}

Deno.test("exploration grows with graph size and on a plateau, within bounds", () => {
  assert.equal(exploreRate(1, 0), 0.1);
  assert.equal(exploreRate(50, 0), 0.2);
  assert.equal(exploreRate(500, 0), 0.3);
  assert.ok(Math.abs(exploreRate(50, 4) - 0.4) < 1e-9);
  assert.equal(exploreRate(500, 50), 0.6);
});

Deno.test("selectParent exploits the best or explores the least-explored branch", () => {
  const a = { id: "a" } as ExperimentRecord;
  const b = { id: "b" } as ExperimentRecord;
  const c = { id: "c" } as ExperimentRecord;
  const kids: Record<string, number> = { a: 9, b: 5, c: 0 };
  const opts = (values: number[]) => ({ graphSize: 50, plateau: 0, random: () => values.shift()! });
  assert.equal(selectParent([], () => 0, opts([0])), undefined);
  assert.deepEqual(selectParent([a, b, c], (id) => kids[id]!, opts([0.5])), {
    parent: a,
    mode: "exploit",
  });
  // Explore (0.1 < 0.2): weights b = 1/36, c = 1; a draw of 0.5 of the total lands on c.
  assert.deepEqual(selectParent([a, b, c], (id) => kids[id]!, opts([0.1, 0.5])), {
    parent: c,
    mode: "explore",
  });
  assert.deepEqual(selectParent([a, b, c], (id) => kids[id]!, opts([0.1, 0.001])), {
    parent: b,
    mode: "explore",
  });
  assert.equal(selectParent([a], () => 0, opts([0]))?.parent, a);
});

Deno.test("near-duplicate diffs and identical code are detected, distinct changes are not", () => {
  const lr = edit(BASELINE, "CPU_LEARNING_RATE = 3e-3", "CPU_LEARNING_RATE = 4e-3");
  const lrSpaced = edit(BASELINE, "CPU_LEARNING_RATE = 3e-3", "CPU_LEARNING_RATE   =   4e-3");
  const depth = edit(BASELINE, "CPU_DEPTH = 4", "CPU_DEPTH = 5");
  const sibling = { id: "s", code_cid: "x", diff: unifiedDiff(BASELINE, lr) } as ExperimentRecord;
  assert.equal(diffSimilarity(sibling.diff, unifiedDiff(BASELINE, lr)), 1);
  assert.equal(nearDuplicate(unifiedDiff(BASELINE, lrSpaced), "y", [sibling])?.id, "s");
  assert.equal(nearDuplicate(unifiedDiff(BASELINE, depth), "y", [sibling]), undefined);
  assert.equal(nearDuplicate("", "x", [sibling])?.id, "s");
});

Deno.test("the context and prompt carry lineage, siblings, other branches and the parent code", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-coord-" });
  const stores = openStores(dir);
  try {
    const g = stores.graph;
    const base = rec(null, BASELINE, 1.0, "baseline");
    const c1 = edit(BASELINE, "CPU_DEPTH = 4", "CPU_DEPTH = 5");
    const kept = rec(base, c1, 0.9, "deeper");
    const failed = rec(kept, edit(c1, "CPU_N_EMBD = 96", "CPU_N_EMBD = 64"), 0.95, "narrower", c1);
    const crashed = rec(kept, edit(c1, "SEED = 1337", "SEED = 1"), undefined, "reseed", c1);
    const other = rec(
      base,
      edit(BASELINE, "GRAD_CLIP = 1.0", "GRAD_CLIP = 0.5"),
      0.92,
      "tighter clip\u001b[2J",
    );
    for (const r of [base, kept, failed, crashed, other]) g.insert(r);
    const ctx = buildContext(g, kept, c1, "CPU");
    assert.deepEqual(ctx.keptAncestors.map((r) => r.id), [base.id]);
    assert.deepEqual(ctx.siblings.map((r) => r.id), [failed.id, crashed.id]);
    assert.deepEqual(ctx.insights.map((r) => r.id), [other.id]);
    assert.deepEqual(ctx.frontier.map((r) => r.id), [kept.id, other.id]);
    const prompt = userPrompt(ctx);
    assert.match(
      prompt,
      /Graph: 5 experiments from 1 nodes; frontier size 2; best val_bpb 0\.900000/,
    );
    assert.match(
      prompt,
      /Parent experiment \(val_bpb 0\.900000, depth 1\):\n- \[keep, val_bpb 0\.900000, depth 1\] deeper/,
    );
    assert.match(
      prompt,
      /Improvements that led here[^\n]*\n- \[keep, val_bpb 1\.000000, depth 0\] baseline/,
    );
    assert.match(
      prompt,
      /without success[^\n]*\n- \[discard, val_bpb 0\.950000, depth 2\] narrower[^\n]*\n {4}-CPU_N_EMBD = 96\n {4}\+CPU_N_EMBD = 64/,
    );
    assert.match(prompt, /\[crash, crashed, depth 2\] reseed \[crash: oom\]/);
    assert.match(
      prompt,
      /Ideas that worked on other branches:\n- \[keep, val_bpb 0\.920000, depth 1\] tighter clip \[2J/,
    );
    assert.ok(!prompt.includes("\u001b"), "control characters from peers are removed");
    assert.ok(prompt.includes("```python\n" + c1.trimEnd() + "\n```"));
    assert.match(systemPrompt("CPU"), /Description:.*\nHypothesis:/s);
    assert.match(systemPrompt("CPU"), /CPU_\* constants size the model/);
  } finally {
    stores.close();
    await Deno.remove(dir, { recursive: true });
  }
});
