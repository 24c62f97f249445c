/**
 * Runner behaviour that needs only a Python 3 (no torch, no sandbox): streaming, retry without
 * torch.compile, the hard timeout killing the whole tree, cancellation.
 */
import assert from "node:assert/strict";
import { MEMORY_HOG_TRAIN } from "../fixtures/memory_hog.ts";
import { join } from "node:path";
import {
  parseMemoryLimit,
  probeSandbox,
  type ProgressEvent,
  runTraining,
  type TrainRunOptions,
} from "../../src/training/mod.ts";
import { BWRAP, liveProcesses, PYTHON3 } from "./_env.ts";
import { fakePython } from "./fake_python.ts";

async function withScript(
  code: string,
  over: Partial<TrainRunOptions>,
  check: (
    r: Awaited<ReturnType<typeof runTraining>>,
    events: ProgressEvent[],
  ) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    // A root node's sandbox runs as nobody, which must read the script.
    await Deno.chmod(dir, 0o755);
    await Deno.writeTextFile(join(dir, "train.py"), code, { mode: 0o644 });
    const events: ProgressEvent[] = [];
    const r = await runTraining({
      python: fakePython(PYTHON3!),
      workspaceDir: dir,
      dataDir: dir,
      sandbox: null,
      timeBudgetSeconds: 5,
      timeoutSeconds: 20,
      onProgress: (e) => events.push(e),
      ...over,
    });
    await check(r, events);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const FAKE_TRAIN = `
import os, sys
for i in range(1, 4):
    print(f"step {i:05d} ({i * 100 / 3:.1f}%) | loss: {4 - i:.6f} | tok/sec: 1,000 | epoch: 0.1 | remaining: {3 - i}s", flush=True)
print("evaluating...")
print("---")
print("val_bpb:          1.500000")
print("training_seconds: 0.1")
print("peak_vram_mb:     0.0")
print(f"num_steps:        {os.environ.get('SPORE_MAX_STEPS', '3')}")
print("num_params_M:     0.00")
print("num_parameters:   10")
`;

Deno.test({
  name: "runner streams progress and parses the result",
  ignore: PYTHON3 === null,
  async fn() {
    await withScript(FAKE_TRAIN, { maxSteps: 3 }, (r, events) => {
      assert.ok(r.ok, !r.ok ? r.reason : "");
      assert.equal(r.metrics.valBpb, 1.5);
      assert.equal(r.metrics.numSteps, 3);
      assert.deepEqual(events.map((e) => e.progress?.step ?? e.phase), [
        "starting",
        1,
        2,
        3,
        "evaluating",
        "done",
      ]);
      assert.equal(events[1]!.progress?.tokPerSec, 1000);
    });
  },
});

Deno.test({
  name: "runner retries once with torch.compile disabled after a compile failure",
  ignore: PYTHON3 === null,
  async fn() {
    const code = `
import os, sys
if os.environ.get("SPORE_DISABLE_COMPILE") != "1":
    print("torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised", file=sys.stderr)
    sys.exit(1)
${FAKE_TRAIN}`;
    await withScript(code, {}, (r) => {
      assert.ok(r.ok, !r.ok ? r.reason : "");
      assert.equal(r.compileRetried, true);
    });
    // A plain crash is not retried.
    await withScript("raise ValueError('bad model')", {}, (r) => {
      assert.ok(!r.ok);
      assert.equal(r.compileRetried, false);
      assert.equal(r.reason, "train.py exited with code 1: ValueError: bad model");
    });
  },
});

Deno.test({
  name: "unsandboxed timeout kills the whole process tree",
  ignore: PYTHON3 === null,
  async fn() {
    const marker = `spore-test-unsafe-${crypto.randomUUID()}`;
    const code = `
import subprocess, time
subprocess.Popen(["${marker}", "600"], executable="/bin/sleep")
print("sleeping", flush=True)
time.sleep(600)
`;
    const t0 = performance.now();
    await withScript(code, { timeoutSeconds: 2 }, async (r) => {
      assert.ok(!r.ok);
      assert.equal(r.kind, "timeout");
      assert.match(r.reason, /killed after 2s/);
      assert.ok((performance.now() - t0) / 1000 < 10);
      await new Promise((res) => setTimeout(res, 200));
      assert.deepEqual(await liveProcesses(marker), []);
    });
  },
});

Deno.test({
  name: "runner stops a run when cancelled",
  ignore: PYTHON3 === null,
  async fn() {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await withScript("import time\ntime.sleep(600)\n", { signal: ac.signal }, (r) => {
      assert.ok(!r.ok);
      assert.equal(r.kind, "cancelled");
    });
  },
});

Deno.test({
  name: "runner keeps only the tail of a flood of output",
  ignore: PYTHON3 === null,
  async fn() {
    const code =
      `import sys\nfor i in range(200000):\n    sys.stdout.write("x" * 100 + "\\n")\nprint("the end")\nsys.exit(2)\n`;
    await withScript(code, { maxLogChars: 10_000 }, (r) => {
      assert.ok(!r.ok);
      assert.ok(r.log.length <= 10_000);
      assert.ok(r.log.endsWith("the end"));
      assert.equal(r.reason, "train.py exited with code 2: the end");
    });
  },
});

Deno.test({
  name: "unsandboxed runs still get no node secrets from the environment",
  ignore: PYTHON3 === null,
  async fn() {
    Deno.env.set("SPORE_TEST_LLM_API_KEY", "sk-secret");
    try {
      const code =
        "import os\nprint(sorted(os.environ))\nprint(os.environ.get('SPORE_TEST_LLM_API_KEY'))\n" +
        "raise SystemExit(4)\n";
      await withScript(code, {}, (r) => {
        assert.ok(!r.ok);
        assert.ok(!r.log.includes("sk-secret"));
        assert.match(r.log, /SPORE_CACHE_DIR/);
      });
    } finally {
      Deno.env.delete("SPORE_TEST_LLM_API_KEY");
    }
  },
});

Deno.test({
  name: "runner: a train.py over its memory limit ends as an out-of-memory crash",
  ignore: PYTHON3 === null,
  async fn() {
    const memoryLimit = { kind: "bytes", bytes: 256 * 2 ** 20 } as const;
    await withScript(MEMORY_HOG_TRAIN, { memoryLimit }, (r) => {
      assert.ok(!r.ok, "a run over its limit is not a result");
      assert.equal(r.kind, "exit");
      assert.match(r.reason, /^out of memory: train\.py went over its memory limit \(256 MiB\)/);
      // It got part of the way: the limit, not a broken launcher, stopped it.
      assert.match(r.log, /allocated 128 MiB/);
      assert.doesNotMatch(r.log, /allocated 512 MiB/);
    });
  },
});

Deno.test("memory limits parse as users write them", () => {
  assert.deepEqual(parseMemoryLimit("50%"), { kind: "share", percent: 50 });
  assert.deepEqual(parseMemoryLimit("4096MiB"), { kind: "bytes", bytes: 4096 * 2 ** 20 });
  assert.deepEqual(parseMemoryLimit("8G"), { kind: "bytes", bytes: 8 * 2 ** 30 });
  assert.deepEqual(parseMemoryLimit("none"), { kind: "none" });
  for (const bad of ["0%", "101%", "12", "1MiB", "lots"]) {
    assert.ok("error" in parseMemoryLimit(bad), bad);
  }
});

Deno.test({
  name: "runner: the memory limit holds inside the bubblewrap sandbox too",
  ignore: PYTHON3 === null || BWRAP === null,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "spore-test-data-" });
    try {
      const python = fakePython(PYTHON3!);
      const sandbox = await probeSandbox({ bwrap: BWRAP!, python, dataDir });
      const memoryLimit = { kind: "bytes", bytes: 256 * 2 ** 20 } as const;
      await withScript(MEMORY_HOG_TRAIN, { sandbox, memoryLimit }, (r) => {
        assert.ok(!r.ok);
        assert.match(r.reason, /^out of memory: .*\(256 MiB\)/);
        assert.match(r.log, /allocated 128 MiB/);
      });
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
