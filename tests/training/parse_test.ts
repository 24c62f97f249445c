import assert from "node:assert/strict";
import {
  lastErrorLine,
  looksLikeCompileFailure,
  parseProgressLine,
  parseResultBlock,
} from "../../src/training/parse.ts";

Deno.test("parseProgressLine reads the train.py progress format", () => {
  const p = parseProgressLine(
    "step 00042 (28.0%) | loss: 2.345678 | lr: 1.00e-03 | dt: 310ms | tok/sec: 13,210 | epoch: 0.041 | remaining: 95s",
  );
  assert.deepEqual(p, {
    step: 42,
    percent: 28,
    loss: 2.345678,
    tokPerSec: 13210,
    epoch: 0.041,
    remainingSeconds: 95,
  });
});

Deno.test("parseProgressLine rejects lines that are not progress", () => {
  for (
    const line of [
      "",
      "evaluating...",
      "step x (1%) | loss: 1",
      "step 1 (1%) | lr: 1",
      "step 1 (250%) | loss: 1",
      "step 1 (1%) | loss: nan",
      "step 1 (1%) | loss: 1e999",
      `step 1 (1%) | loss: 1 | ${"x".repeat(2000)}`,
    ]
  ) {
    assert.equal(parseProgressLine(line), null, line.slice(0, 40));
  }
});

const BLOCK = [
  "step 00150 (100.0%) | loss: 1.4 | tok/sec: 7,000 | epoch: 0.1 | remaining: 0s",
  "evaluating...",
  "---",
  "val_bpb:          2.122072",
  "training_seconds: 91.2",
  "total_seconds:    101.3",
  "peak_vram_mb:     0.0",
  "num_steps:        150",
  "num_params_M:     0.82",
  "num_parameters:   820352",
].join("\n");

Deno.test("parseResultBlock reads the final block", () => {
  assert.deepEqual(parseResultBlock(BLOCK), {
    valBpb: 2.122072,
    trainingSeconds: 91.2,
    peakVramMb: 0,
    numSteps: 150,
    numParams: 820352,
    numParamsM: 0.82,
    totalSeconds: 101.3,
  });
});

Deno.test("parseResultBlock uses the last block and rejects invalid values", () => {
  const twice = `---\nval_bpb: 9.0\n${BLOCK}`;
  assert.equal(parseResultBlock(twice)?.valBpb, 2.122072);
  assert.equal(parseResultBlock("no block here\nval_bpb: 1.0"), null);
  assert.equal(parseResultBlock("---\nval_bpb: nan"), null);
  assert.equal(parseResultBlock("---\nval_bpb: -1.0"), null);
  assert.equal(parseResultBlock("---\nval_bpb: 0"), null);
  assert.equal(parseResultBlock("---\nval_bpb: 1.5\nnum_steps: 2.5"), null);
  assert.equal(parseResultBlock("---\nval_bpb: 1.5\nnum_parameters: -3"), null);
  assert.equal(parseResultBlock("---\nval_bpb: 1.5\r\nnum_steps: 7\r\n")?.numSteps, 7);
});

Deno.test("looksLikeCompileFailure spots torch.compile errors only", () => {
  assert.ok(looksLikeCompileFailure("torch._dynamo.exc.BackendCompilerFailed: backend='inductor'"));
  assert.ok(looksLikeCompileFailure("torch._inductor.exc.InductorError: ..."));
  assert.ok(!looksLikeCompileFailure("RuntimeError: shape mismatch"));
});

Deno.test("lastErrorLine picks the exception line of a traceback", () => {
  const log = [
    "Traceback (most recent call last):",
    '  File "train.py", line 3, in <module>',
    "FileNotFoundError: [Errno 2] No such file or directory: '/x'",
    "",
  ].join("\n");
  assert.equal(lastErrorLine(log), "FileNotFoundError: [Errno 2] No such file or directory: '/x'");
  assert.equal(lastErrorLine("just some output\nlast words"), "last words");
  assert.equal(lastErrorLine(""), "");
  assert.equal(lastErrorLine(`ValueError: ${"y".repeat(500)}`).length, 303);
});

/** What the Python network's autoresearch train.py prints (PROTOCOL.md section 11). */
const PYTHON_LOG = [
  "Vocab size: 8,192",
  "\rstep 00000 (0.0%) | loss: 9.010000 | lrm: 1.00 | dt: 9000ms | tok/sec: 58,000 | mfu: 1.4% | epoch: 1 | remaining: 300s" +
  "\rstep 00476 (50.0%) | loss: 3.400000 | lrm: 1.00 | dt: 312ms | tok/sec: 1,680,000 | mfu: 39.8% | epoch: 1 | remaining: 150s" +
  "\rstep 00953 (100.0%) | loss: 3.012000 | lrm: 0.10 | dt: 312ms | tok/sec: 1,680,000 | mfu: 39.8% | epoch: 1 | remaining: 0s",
  "---",
  "val_bpb:          0.997900",
  "training_seconds: 300.1",
  "total_seconds:    325.9",
  "peak_vram_mb:     45060.2",
  "mfu_percent:      39.80",
  "total_tokens_M:   499.6",
  "num_steps:        953",
  "num_params_M:     50.3",
  "depth:            8",
].join("\n");

Deno.test("parseResultBlock reads the Python network's block: num_params from num_params_M", () => {
  assert.deepEqual(parseResultBlock(PYTHON_LOG), {
    valBpb: 0.9979,
    trainingSeconds: 300.1,
    peakVramMb: 45060.2,
    numSteps: 953,
    numParams: 50_300_000,
    numParamsM: 50.3,
    totalSeconds: 325.9,
    mfuPercent: 39.8,
    totalTokensM: 499.6,
    depth: 8,
  });
});

Deno.test("parseResultBlock takes num_steps from the last progress line when the block lacks it", () => {
  const noSteps = PYTHON_LOG.replace(/num_steps: +953\n/, "");
  assert.equal(parseResultBlock(noSteps)?.numSteps, 953);
  // Progress lines as the runner hands them over (one per `\r` update) count the same.
  assert.equal(parseResultBlock(noSteps.replaceAll("\r", "\n"))?.numSteps, 953);
  // An explicit num_parameters line wins over num_params_M.
  assert.equal(parseResultBlock(`${PYTHON_LOG}\nnum_parameters: 123`)?.numParams, 123);
  // No progress and no num_steps: 0, as before.
  assert.equal(parseResultBlock("---\nval_bpb: 1.5")?.numSteps, 0);
  // A hostile num_params_M is refused, not turned into a huge or negative count.
  assert.equal(parseResultBlock("---\nval_bpb: 1.5\nnum_params_M: -2"), null);
  assert.equal(parseResultBlock("---\nval_bpb: 1.5\nnum_params_M: 1e300"), null);
});

Deno.test("parseProgressLine reads the Python network's progress line", () => {
  const p = parseProgressLine(
    "step 00042 (14.0%) | loss: 3.500000 | lrm: 1.00 | dt: 312ms | tok/sec: 1,680,000 | mfu: 39.8% | epoch: 1 | remaining: 258s",
  );
  assert.deepEqual(p, {
    step: 42,
    percent: 14,
    loss: 3.5,
    tokPerSec: 1_680_000,
    epoch: 1,
    remainingSeconds: 258,
  });
});
