import assert from "node:assert/strict";
import { MAX_DESCRIPTION, parseReply } from "../../src/research/extract.ts";
import { evaluate, readHyperparams, replaceHyperparam } from "../../src/research/hyperparams.ts";
import { stripCommentsAndStrings } from "../../src/research/python_source.ts";
import { BASELINE } from "./fixtures.ts";

Deno.test("parseReply takes the longest python block and the labelled lines", () => {
  const reply = [
    "**Description:** raise the learning rate",
    "Hypothesis: faster convergence within the step budget",
    "```python",
    "x = 1",
    "```",
    "and the full file:",
    "```python",
    "x = 2",
    "y = 3",
    "```",
  ].join("\n");
  assert.deepEqual(parseReply(reply), {
    code: "x = 2\ny = 3\n",
    description: "raise the learning rate",
    hypothesis: "faster convergence within the step budget",
  });
});

Deno.test("parseReply falls back to an unlabelled block and the first prose line", () => {
  const parsed = parseReply("Use a deeper model.\n\n```\nDEPTH = 10\n```\n```bash\nrm -rf /\n```");
  assert.equal(parsed.code, "DEPTH = 10\n");
  assert.equal(parsed.description, "Use a deeper model.");
  assert.equal(parsed.hypothesis, "");
});

Deno.test("parseReply survives replies without code, huge replies and control characters", () => {
  assert.equal(parseReply("I cannot help with that.").code, undefined);
  assert.equal(parseReply("").description, "");
  const huge = "Description: " + "a".repeat(5000) + "\n```python\n" + "x".repeat(2_000_000);
  const parsed = parseReply(huge);
  assert.equal(parsed.code, undefined, "an unterminated block past the limit is no code");
  assert.equal(parsed.description.length, MAX_DESCRIPTION);
  const junk = parseReply("Description: a\u0000b\u001b[31mred\u2028c");
  assert.equal(junk.description, "a b [31mred c");
});

Deno.test("hyperparameters are read, evaluated and rewritten in place", () => {
  const params = readHyperparams(BASELINE);
  assert.equal(params.get("CPU_DEPTH")?.value, 4);
  assert.equal(params.get("TOTAL_BATCH_SIZE")?.value, 64 * 256);
  assert.equal(params.get("TOTAL_BATCH_SIZE")?.expr, "64 * MAX_SEQ_LEN");
  assert.equal(params.get("LEARNING_RATE")?.value, 1e-3);
  const edited = replaceHyperparam(BASELINE, "BASE_DEVICE_BATCH", "32")!;
  assert.match(
    edited,
    /^BASE_DEVICE_BATCH = 32 {2}# sequences per micro-batch at SPORE_RESOURCE=100$/m,
  );
  assert.equal(edited.split("\n").length, BASELINE.split("\n").length);
  assert.equal(replaceHyperparam(BASELINE, "NOPE", "1"), undefined);
  assert.equal(evaluate("2**17 + (3 - 1) * 0x10 // 3", {}), 131072 + 10);
  assert.equal(evaluate("1_000.5e-1", {}), 100.05);
  assert.equal(evaluate("os.getenv('X')", {}), undefined);
  assert.equal(evaluate("UNKNOWN * 2", {}), undefined);
  assert.equal(evaluate("1 / 0", {}), undefined);
});

Deno.test("stripCommentsAndStrings blanks comments and plain strings, keeps f-strings", () => {
  const src =
    'a = "import os" # subprocess\nb = f"{socket.x}" + r\'\\\'q\'\nc = """multi\nline"""\n';
  assert.equal(stripCommentsAndStrings(src), 'a = "" \nb = f"{socket.x}" + r\'\'\nc = """\n"""\n');
});
