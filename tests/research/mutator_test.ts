import assert from "node:assert/strict";
import { sha256Hex } from "../../src/protocol/hash.ts";
import type { ExperimentRecord } from "../../src/protocol/types.ts";
import { readHyperparams } from "../../src/research/hyperparams.ts";
import { mutableParams, mutate, MUTATOR_AGENT, seededRandom } from "../../src/research/mutator.ts";
import { policyViolations, structuralProblems } from "../../src/research/policy.ts";
import { BASELINE } from "./fixtures.ts";

function changed(a: string, b: string): string[] {
  const pa = readHyperparams(a);
  const pb = readHyperparams(b);
  return [...pb.values()].filter((p) => pa.get(p.name)?.expr !== p.expr).map((p) => p.name);
}

Deno.test("mutations change one or two allowed constants and pass the whole policy", () => {
  for (const gpu of ["CPU", "H100", "RTX_3060"]) {
    const allowed = new Set(mutableParams(gpu).map((s) => s.name));
    const random = seededRandom(42);
    for (let i = 0; i < 40; i++) {
      const p = mutate({ parentCode: BASELINE, gpuClass: gpu, siblings: [] }, random);
      assert.ok(p, `${gpu} mutation ${i}`);
      const names = changed(BASELINE, p.code);
      assert.ok(names.length >= 1 && names.length <= 2, names.join());
      assert.ok(names.every((n) => allowed.has(n)), names.join());
      assert.deepEqual(structuralProblems(p.code, BASELINE), []);
      assert.deepEqual(policyViolations(p.code, BASELINE, gpu), []);
      assert.equal(p.agentModel, MUTATOR_AGENT);
      assert.match(p.description, /^mutator: [A-Z_]+ \S+.* -> /);
      assert.ok(p.hypothesis.length > 10);
      // Only the changed lines differ: the rest of the file is byte-identical.
      assert.equal(p.code.split("\n").length, BASELINE.split("\n").length);
    }
  }
});

Deno.test("CPU mutations edit the CPU constants or shared ones, never the GPU sizes", () => {
  const random = seededRandom(3);
  for (let i = 0; i < 30; i++) {
    const p = mutate({ parentCode: BASELINE, gpuClass: "CPU", siblings: [] }, random)!;
    for (const n of changed(BASELINE, p.code)) {
      assert.ok(!["DEPTH", "N_EMBD", "LEARNING_RATE"].includes(n));
    }
  }
});

Deno.test("the mutator is deterministic under a seed and never repeats a sibling's code", () => {
  const a = mutate({ parentCode: BASELINE, gpuClass: "CPU", siblings: [] }, seededRandom(9))!;
  const b = mutate({ parentCode: BASELINE, gpuClass: "CPU", siblings: [] }, seededRandom(9))!;
  assert.equal(a.code, b.code);
  const sibling = { code_cid: sha256Hex(a.code) } as ExperimentRecord;
  const c = mutate(
    { parentCode: BASELINE, gpuClass: "CPU", siblings: [sibling] },
    seededRandom(9),
  )!;
  assert.notEqual(c.code, a.code);
});

Deno.test("token batch sizes keep their MAX_SEQ_LEN form and floats stay floats", () => {
  const random = seededRandom(11);
  let sawBatch = false;
  let sawLr = false;
  for (let i = 0; i < 200 && !(sawBatch && sawLr); i++) {
    const p = mutate({ parentCode: BASELINE, gpuClass: "CPU", siblings: [] }, random)!;
    const params = readHyperparams(p.code);
    const batch = params.get("CPU_TOTAL_BATCH_SIZE")!;
    if (batch.expr !== "16 * MAX_SEQ_LEN") {
      sawBatch = true;
      assert.match(batch.expr, /^\d+ \* MAX_SEQ_LEN$/);
    }
    const lr = params.get("CPU_LEARNING_RATE")!;
    if (lr.expr !== "3e-3") {
      sawLr = true;
      assert.match(lr.expr, /[.e]/);
    }
  }
  assert.ok(sawBatch && sawLr);
});

Deno.test("a file without known constants yields no mutation", () => {
  assert.equal(
    mutate({ parentCode: "print('hi')\n", gpuClass: "CPU", siblings: [] }, seededRandom(1)),
    undefined,
  );
});
