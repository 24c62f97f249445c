import assert from "node:assert/strict";
import { classifyRun, type RunExit } from "../../src/training/classify.ts";

const OK_LOG = "---\nval_bpb: 1.234567\nnum_steps: 5\nnum_parameters: 100\n";
const exit = (over: Partial<RunExit>): RunExit => ({
  code: 0,
  signal: null,
  timedOut: false,
  cancelled: false,
  timeoutSeconds: 30,
  ...over,
});

Deno.test("classifyRun: exit 0 with a valid block is a result", () => {
  const v = classifyRun(exit({}), OK_LOG);
  assert.ok(v.ok);
  assert.equal(v.metrics.valBpb, 1.234567);
});

Deno.test("classifyRun: a printed val_bpb does not save a non-zero exit", () => {
  const v = classifyRun(exit({ code: 3 }), `${OK_LOG}RuntimeError: boom`);
  assert.ok(!v.ok);
  assert.equal(v.kind, "exit");
  assert.equal(v.reason, "train.py exited with code 3: RuntimeError: boom");
});

Deno.test("classifyRun: timeout, signal, cancel and missing block each say why", () => {
  const t = classifyRun(exit({ code: null, timedOut: true }), OK_LOG);
  assert.ok(!t.ok && t.kind === "timeout" && t.reason.includes("30s"));
  const s = classifyRun(exit({ code: null, signal: "SIGKILL" }), "");
  assert.ok(!s.ok && s.kind === "signal" && s.reason.includes("SIGKILL"));
  const big = classifyRun(exit({ code: null, signal: "SIGXFSZ" }), "");
  assert.ok(!big.ok && big.reason.includes("size limit"));
  const c = classifyRun(exit({ code: null, cancelled: true }), "");
  assert.ok(!c.ok && c.kind === "cancelled");
  const n = classifyRun(exit({}), "all done, no block");
  assert.ok(!n.ok && n.kind === "no_result" && n.reason.includes("val_bpb"));
});

Deno.test("classifyRun: sandbox denials get a hint", () => {
  const cases: Array<[string, string]> = [
    ["BlockingIOError: [Errno 11] Resource temporarily unavailable", "process limit"],
    ["OSError: [Errno 30] Read-only file system: '/usr/x'", "only the workspace is writable"],
    ["OSError: [Errno 101] Network is unreachable", "no network"],
    ["ConnectionRefusedError: [Errno 111] Connection refused", "no network"],
  ];
  for (const [line, hint] of cases) {
    const v = classifyRun(exit({ code: 1 }), line);
    assert.ok(!v.ok && v.reason.includes(hint), line);
  }
});
