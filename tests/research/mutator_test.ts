import assert from "node:assert/strict";
import { sha256Hex } from "../../src/protocol/hash.ts";
import type { ExperimentRecord } from "../../src/protocol/types.ts";
import { readHyperparams } from "../../src/research/hyperparams.ts";
import {
  divisorPairs,
  genericSpec,
  mutableParams,
  mutate,
  MUTATOR_AGENT,
  seededRandom,
} from "../../src/research/mutator.ts";
import { STANDIN_TRAIN } from "../fixtures/autoresearch_workspace.ts";
import { policyViolations, structuralProblems } from "../../src/research/policy.ts";
import { BASELINE } from "./fixtures.ts";

function changed(a: string, b: string): string[] {
  const pa = readHyperparams(a);
  const pb = readHyperparams(b);
  return [...pb.values()].filter((p) => pa.get(p.name)?.expr !== p.expr).map((p) => p.name);
}

Deno.test("mutations change one or two allowed constants and pass the whole policy", () => {
  for (const gpu of ["CPU", "H100", "RTX_3060"]) {
    const allowed = new Set(mutableParams(gpu, BASELINE).map((s) => s.name));
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
  const base = readHyperparams(BASELINE);
  let sawBatch = false;
  let sawLr = false;
  for (let i = 0; i < 200 && !(sawBatch && sawLr); i++) {
    const p = mutate({ parentCode: BASELINE, gpuClass: "CPU", siblings: [] }, random)!;
    const params = readHyperparams(p.code);
    const batch = params.get("CPU_TOTAL_BATCH_SIZE")!;
    if (batch.expr !== base.get("CPU_TOTAL_BATCH_SIZE")!.expr) {
      sawBatch = true;
      assert.match(batch.expr, /^\d+ \* MAX_SEQ_LEN$/);
    }
    const lr = params.get("CPU_LEARNING_RATE")!;
    if (lr.expr !== base.get("CPU_LEARNING_RATE")!.expr) {
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

Deno.test("any train.py: autoresearch's constants are mutated within the policy, ints stay ints", () => {
  const seen = new Set<string>();
  for (const gpu of ["CPU", "H100", "RTX_3060"]) {
    const random = seededRandom(7);
    for (let i = 0; i < 60; i++) {
      const p = mutate({ parentCode: STANDIN_TRAIN, gpuClass: gpu, siblings: [] }, random);
      assert.ok(p, `${gpu} mutation ${i}`);
      assert.deepEqual(policyViolations(p.code, STANDIN_TRAIN, gpu), []);
      assert.deepEqual(structuralProblems(p.code, STANDIN_TRAIN), []);
      const before = readHyperparams(STANDIN_TRAIN);
      for (const name of changed(STANDIN_TRAIN, p.code)) {
        seen.add(name);
        const [was, now] = [before.get(name)!, readHyperparams(p.code).get(name)!];
        assert.ok(now.value !== undefined && now.value > 0, `${name} = ${now.expr}`);
        if (!/[.e]/.test(was.expr)) assert.ok(Number.isInteger(now.value), `${name} = ${now.expr}`);
        if (name === "TOTAL_BATCH_SIZE") assert.match(now.expr, /^2\*\*\d+$/);
        if (/[.e]/.test(was.expr)) assert.match(now.expr, /[.e]/, "floats stay floats");
      }
    }
  }
  // Not only our own names: autoresearch's learning rates and ratios move too...
  for (const name of ["MATRIX_LR", "EMBEDDING_LR", "ASPECT_RATIO", "WARMDOWN_RATIO", "DEPTH"]) {
    assert.ok(seen.has(name), `${name} never mutated: ${[...seen].join(", ")}`);
  }
  // ...but never the micro-batch (memory only) nor anything imported from prepare.py.
  assert.ok(!seen.has("DEVICE_BATCH_SIZE") && !seen.has("MAX_SEQ_LEN"));
});

Deno.test("values the code divides by stay divisors; fractions in (0, 1) stay there", () => {
  const code = [
    "WIDTH = 384",
    "HEADS = 6",
    "WARMDOWN_RATIO = 0.5",
    "head_dim = WIDTH // HEADS",
    'print("---")',
    'print(f"val_bpb: {1.0}")',
  ].join("\n");
  assert.deepEqual(divisorPairs(code), [["WIDTH", "HEADS"]]);
  const random = seededRandom(5);
  let sawWidth = false;
  for (let i = 0; i < 80; i++) {
    const p = mutate({ parentCode: code, gpuClass: "H100", siblings: [] }, random)!;
    const v = readHyperparams(p.code);
    assert.equal(v.get("WIDTH")!.value! % v.get("HEADS")!.value!, 0, p.code);
    const r = v.get("WARMDOWN_RATIO")!.value!;
    assert.ok(r > 0 && r < 1, String(r));
    if (v.get("WIDTH")!.value !== 384) sawWidth = true;
  }
  assert.ok(sawWidth);
  const g = genericSpec("SEED", 1337, "1337");
  assert.equal(g, undefined, "seeds are never mutated");
});
