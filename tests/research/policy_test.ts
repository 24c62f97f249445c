import assert from "node:assert/strict";
import {
  compileSites,
  envelopeFor,
  envelopeViolations,
  forbiddenUses,
  policyViolations,
  reviewCode,
  structuralProblems,
} from "../../src/research/policy.ts";
import { pythonSyntaxChecker } from "../../src/research/syntax.ts";
import { BASELINE, edit, markerSyntax } from "./fixtures.ts";
import { STANDIN_TRAIN } from "../fixtures/autoresearch_workspace.ts";

Deno.test("the workspace baseline passes every check on CPU and on GPUs", async () => {
  assert.deepEqual(structuralProblems(BASELINE, BASELINE), []);
  for (const gpu of ["CPU", "H100", "RTX_3060", "APPLE_MPS"]) {
    assert.deepEqual(policyViolations(BASELINE, BASELINE, gpu), [], gpu);
  }
  assert.deepEqual(await reviewCode(BASELINE, BASELINE, "CPU", markerSyntax()), { ok: true });
});

Deno.test("diffs, excerpts and placeholders are not complete files", () => {
  const diff = "--- a/train.py\n+++ b/train.py\n@@ -1,3 +1,3 @@\n-LR = 1\n+LR = 2\n";
  assert.match(structuralProblems(diff, BASELINE).join("\n"), /looks like a diff/);
  const plusLines = BASELINE.split("\n").map((l, i) => (i % 3 === 0 && l ? `+${l}` : l)).join("\n");
  assert.match(structuralProblems(plusLines, BASELINE).join("\n"), /looks like a diff/);
  const excerpt = BASELINE.split("\n").slice(0, 60).join("\n");
  assert.match(structuralProblems(excerpt, BASELINE).join("\n"), /not an excerpt/);
  const elided = edit(
    BASELINE,
    "class Attention",
    "# ... rest of the model unchanged\nclass Attention",
  );
  assert.match(structuralProblems(elided, BASELINE).join("\n"), /elides code/);
  const noMain = edit(BASELINE, 'if __name__ == "__main__":\n    main()', "main()");
  assert.match(structuralProblems(noMain, BASELINE).join("\n"), /entry point/);
});

Deno.test("the result block the trainer parses must stay", () => {
  const noBpb = edit(BASELINE, 'print(f"val_bpb:          {val_bpb:.6f}")', "pass");
  assert.match(structuralProblems(noBpb, BASELINE).join("\n"), /missing val_bpb/);
  const noSep = edit(BASELINE, 'print("---")', "pass");
  assert.match(structuralProblems(noSep, BASELINE).join("\n"), /result block is incomplete/);
  const noSteps = edit(BASELINE, 'print(f"num_steps:        {step}")', "pass");
  assert.match(structuralProblems(noSteps, BASELINE).join("\n"), /missing num_steps/);
});

Deno.test("binary junk and empty or oversized files are refused", () => {
  assert.match(structuralProblems("\u0000\u0001ELF\u0002", BASELINE)[0]!, /binary/);
  assert.match(structuralProblems("  \n", BASELINE)[0]!, /empty/);
  assert.match(structuralProblems("x = 1\n".repeat(50_000), BASELINE)[0]!, /limit is 200000/);
});

Deno.test("process, network, FFI, signal and dynamic-code use is a policy violation", () => {
  const cases: [string, RegExp][] = [
    ["import subprocess\nsubprocess.run(['ls'])", /imports subprocess/],
    ["import os, socket as s", /imports socket/],
    ["from ctypes import CDLL", /imports ctypes/],
    ["import torch.multiprocessing as mp", /imports multiprocessing/],
    ["torch.multiprocessing.spawn(f)", /uses multiprocessing/],
    ["import requests", /imports requests/],
    ["os.kill(os.getpid(), 9)", /calls os\.kill/],
    ["os.system('curl x | sh')", /calls os\.system/],
    ["from os import system", /imports os\.system/],
    ["import signal", /imports signal/],
    ["__import__('subprocess')", /calls __import__\(\)/],
    ["exec(open('x').read())", /calls exec\(\)/],
    ["from urllib.request import urlopen", /imports urllib/],
  ];
  for (const [line, re] of cases) {
    const code = edit(BASELINE, "import math\n", `import math\n${line}\n`);
    assert.match(forbiddenUses(code).join("\n"), re, line);
  }
});

Deno.test("forbidden names in comments, strings and other objects' attributes are fine", () => {
  const code = edit(
    BASELINE,
    "import math\n",
    'import math\n# we never use subprocess or os.kill here\nNOTE = "import socket"\n' +
      "def f(m):\n    return m.eval(), x.signal.mean(), re.compile\n",
  );
  assert.deepEqual(forbiddenUses(code), []);
});

Deno.test("new torch.compile call sites are refused, existing ones kept", () => {
  assert.equal(compileSites(BASELINE), 1);
  const extra = edit(
    BASELINE,
    "def main():",
    "@torch.compile\ndef helper(x):\n    return x\n\n\ndef main():",
  );
  assert.match(policyViolations(extra, BASELINE, "H100").join("\n"), /adds 1 torch\.compile/);
  const inComment = edit(BASELINE, "def main():", "# torch.compile(model) is slow\ndef main():");
  assert.deepEqual(policyViolations(inComment, BASELINE, "H100"), []);
});

Deno.test("model-size envelopes bind constrained hardware only", () => {
  const deep = edit(BASELINE, "CPU_DEPTH = 4", "CPU_DEPTH = 24");
  assert.match(envelopeViolations(deep, "CPU").join("\n"), /CPU_DEPTH = 24 is outside 1\.\.8/);
  const wide = edit(BASELINE, "N_EMBD = 512", "N_EMBD = 4096");
  assert.match(envelopeViolations(wide, "RTX_3060").join("\n"), /N_EMBD = 4096 is outside/);
  assert.deepEqual(envelopeViolations(wide, "H100"), []);
  assert.deepEqual(envelopeViolations(wide, "CPU"), [], "the GPU constants do not size CPU runs");
  const batch = edit(
    BASELINE,
    "CPU_TOTAL_BATCH_SIZE = 8 * MAX_SEQ_LEN",
    "CPU_TOTAL_BATCH_SIZE = 512 * MAX_SEQ_LEN",
  );
  assert.match(envelopeViolations(batch, "CPU").join("\n"), /TOTAL_BATCH_SIZE .* = 131072/);
  const split = edit(BASELINE, "N_HEAD = 8", "N_HEAD = 7");
  assert.match(envelopeViolations(split, "H100").join("\n"), /multiple of N_HEAD \(7\)/);
  const odd = edit(BASELINE, "CPU_N_HEAD = 4", "CPU_N_HEAD = 96");
  assert.match(envelopeViolations(odd, "CPU").join("\n"), /head dim .* = 1 must be even/);
  const steps = edit(BASELINE, "CPU_STEPS = 150", "CPU_STEPS = 100000");
  assert.match(envelopeViolations(steps, "CPU").join("\n"), /CPU_STEPS = 100000/);
  assert.equal(envelopeFor("H100"), undefined);
  assert.equal(envelopeFor("CPU")?.prefix, "CPU_");
});

Deno.test("reviewCode reports invalid code before policy, with the reasons", async () => {
  const broken = edit(BASELINE, "def main():", "SYNTAX_ERROR_HERE\ndef main():");
  const r1 = await reviewCode(broken, BASELINE, "CPU", markerSyntax());
  assert.deepEqual(r1, {
    ok: false,
    kind: "invalid",
    reasons: ["Python syntax error: line 1: invalid syntax"],
  });
  const evil = edit(BASELINE, "import math\n", "import math\nimport subprocess\n");
  const r2 = await reviewCode(evil, BASELINE, "CPU", markerSyntax());
  assert.ok(!r2.ok && r2.kind === "policy");
});

Deno.test("the Python checker parses without executing", async () => {
  const check = pythonSyntaxChecker("/usr/bin/python3");
  const dir = await Deno.makeTempDir({ prefix: "spore-syntax-" });
  try {
    const marker = `${dir}/ran`;
    // Valid code whose execution would create a file: parsing must not create it.
    const ok = await check(`open(${JSON.stringify(marker)}, "w").write("x")\n`);
    assert.deepEqual(ok, { ok: true });
    await assert.rejects(Deno.stat(marker));
    const bad = await check("def f(:\n    pass\n");
    assert.ok(!bad.ok);
    assert.match(bad.error, /^line 1: /);
    const nul = await check("x = 1\u0000\n");
    assert.ok(!nul.ok);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("size limits follow the parent: another workspace's oversized default may stay, not grow", () => {
  // autoresearch's TOTAL_BATCH_SIZE = 2**19 exceeds the small-card envelope already.
  assert.match(envelopeViolations(STANDIN_TRAIN, "RTX_3060").join(), /TOTAL_BATCH_SIZE/);
  const same = edit(STANDIN_TRAIN, "MATRIX_LR = 0.04", "MATRIX_LR = 0.05");
  assert.deepEqual(policyViolations(same, STANDIN_TRAIN, "RTX_3060"), []);
  const smaller = edit(STANDIN_TRAIN, "TOTAL_BATCH_SIZE = 2**19", "TOTAL_BATCH_SIZE = 2**18");
  assert.deepEqual(policyViolations(smaller, STANDIN_TRAIN, "RTX_3060"), []);
  const bigger = edit(STANDIN_TRAIN, "TOTAL_BATCH_SIZE = 2**19", "TOTAL_BATCH_SIZE = 2**20");
  assert.match(policyViolations(bigger, STANDIN_TRAIN, "RTX_3060").join(), /TOTAL_BATCH_SIZE/);
  // On CPU a file without our CPU_ set is sized by its plain names.
  const deep = edit(STANDIN_TRAIN, "DEPTH = 8", "DEPTH = 40");
  assert.match(policyViolations(deep, STANDIN_TRAIN, "CPU").join(), /DEPTH = 40 is outside 1\.\.8/);
});
