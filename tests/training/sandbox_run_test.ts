/**
 * Real sandboxed runs (need torch and bubblewrap; CI installs both): a real CPU training to a parsed
 * val_bpb, reproducible in a fresh workspace, and hostile train.py files that must each be
 * contained, reported as a crash with a clear reason, and leave the node's data dir unchanged.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type ProgressEvent,
  TrainingRuntime,
  type TrainingRuntime as Runtime,
  TrainingSetupError,
  type TrainResult,
} from "../../src/training/mod.ts";
import { execCommand } from "../../src/training/exec.ts";
import { BWRAP, liveProcesses, snapshot, TORCH } from "./_env.ts";

const SECRET = "9f".repeat(32);
const TRAIN_PY = await Deno.readTextFile(new URL("../../workspace/train.py", import.meta.url));

/** A fake node data dir, like `spore init` leaves it. */
async function fakeDataDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "spore-test-data-" });
  await Deno.mkdir(join(dir, "identity"), { mode: 0o700 });
  await Deno.writeTextFile(join(dir, "identity", "private_key"), SECRET, { mode: 0o600 });
  await Deno.writeTextFile(join(dir, "identity", "node_id"), "ab".repeat(32));
  await Deno.writeTextFile(join(dir, "config.toml"), 'host = "127.0.0.1"\nport = 7470\n');
  return dir;
}

function crash(r: TrainResult): Extract<TrainResult, { ok: false }> {
  assert.ok(!r.ok, "a hostile run must not count as a result");
  return r;
}

Deno.test({
  name: "sandboxed training",
  ignore: TORCH === null || BWRAP === null,
  sanitizeResources: false,
  async fn(t) {
    const dataDir = await fakeDataDir();
    const outside = await Deno.makeTempDir({ prefix: "spore-test-outside-" });
    let rt: Runtime | undefined;
    try {
      rt = await TrainingRuntime.create({ dataDir, python: TORCH!.path });
      const runtime = rt;
      assert.equal(runtime.sandbox?.bwrap !== undefined, true);
      assert.equal(runtime.device.gpuClass === "CPU" || runtime.device.kind !== "cpu", true);
      const before = await snapshot(dataDir);
      const run = (code: string, timeoutSeconds = 60) => runtime.train({ code, timeoutSeconds });
      // The node's own record of this machine's CPU pace is the one file a run may change; a
      // train.py, hostile or not, changes nothing.
      const pace = join(dataDir, "cpu_pace.json");
      const withoutPace = (m: Map<string, string>) => (m.delete(pace), m);
      const unchanged = async () =>
        assert.deepEqual(withoutPace(await snapshot(dataDir)), withoutPace(before));

      await t.step("real CPU training reaches a parsed val_bpb, reproducibly", async () => {
        const events: ProgressEvent[] = [];
        const first = await runtime.train({
          code: TRAIN_PY,
          maxSteps: 3,
          onProgress: (e) => events.push(e),
        });
        assert.ok(first.ok, !first.ok ? `${first.reason}\n${first.log}` : "");
        assert.equal(first.metrics.numSteps, 3);
        assert.ok(first.metrics.valBpb > 0 && first.metrics.valBpb < 10);
        assert.ok(first.metrics.numParams > 0);
        assert.ok(events.some((e) => e.phase === "training" && e.progress?.step === 3));
        assert.ok(events.some((e) => e.phase === "evaluating"));
        // A successful CPU run records this machine's pace; later runs' limits derive from it.
        const learned = JSON.parse(await Deno.readTextFile(join(dataDir, "cpu_pace.json")));
        assert.equal(learned.steps, 3);
        assert.ok(learned.secondsPerStep > 0);
        // Same code, fresh workspace (train() always makes one): same number.
        const second = await runtime.train({ code: TRAIN_PY, maxSteps: 3 });
        assert.ok(second.ok, !second.ok ? second.reason : "");
        assert.ok(Math.abs(first.metrics.valBpb - second.metrics.valBpb) <= 1e-6);
        await unchanged();
      });

      await t.step("hostile: reads <data-dir>/identity/private_key", async () => {
        const key = join(dataDir, "identity", "private_key");
        const r = crash(
          await run(`
import os
print("home:", os.listdir(os.path.expanduser("~")))
secret = open(${JSON.stringify(key)}).read()
print("STOLEN", secret)
print("---\\nval_bpb: 0.5\\nnum_steps: 1\\nnum_parameters: 1")
`),
        );
        assert.equal(r.kind, "exit");
        assert.match(r.reason, /FileNotFoundError/);
        assert.ok(!r.log.includes(SECRET));
        await unchanged();
      });

      await t.step("hostile: connects to a listening loopback port", async () => {
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const port = (listener.addr as Deno.NetAddr).port;
        let accepted = 0;
        const accepting = (async () => {
          for await (const c of listener) {
            accepted++;
            c.close();
          }
        })();
        try {
          const r = crash(
            await run(`
import socket
s = socket.create_connection(("127.0.0.1", ${port}), timeout=5)
s.sendall(b"exfiltrate")
print("CONNECTED")
`),
          );
          assert.equal(r.kind, "exit");
          assert.match(r.reason, /no network/);
          assert.ok(!r.log.includes("CONNECTED"));
          assert.equal(accepted, 0);
        } finally {
          listener.close();
          await accepting.catch(() => {});
        }
        await unchanged();
      });

      await t.step("hostile: writes outside its workspace", async () => {
        const targets = [
          join(dataDir, "identity", "private_key"),
          join(dataDir, "pwned"),
          join(outside, "pwned"),
          "/usr/spore-pwned",
          "/etc/spore-pwned",
          "/data/pwned",
        ];
        const r = crash(
          await run(`
targets = ${JSON.stringify(targets)}
errors = []
for path in targets:
    try:
        with open(path, "w") as f:
            f.write("pwned")
        print("WROTE", path)
    except OSError as e:
        errors.append(f"{path}: {e.strerror}")
raise PermissionError("; ".join(errors))
`),
        );
        assert.equal(r.kind, "exit");
        assert.ok(!r.log.includes("WROTE"), r.log);
        assert.deepEqual([...Deno.readDirSync(outside)], []);
        for (const p of targets.slice(3, 5)) {
          await assert.rejects(Deno.stat(p), Deno.errors.NotFound);
        }
        await unchanged();
      });

      await t.step("hostile: forks 10,000 processes", async () => {
        const marker = `spore-test-fork-${crypto.randomUUID()}`;
        const r = crash(
          await run(`
import os
for i in range(10000):
    if os.fork() == 0:
        os.execv("/bin/sleep", ["${marker}", "60"])
print("FORKED ALL")
`),
        );
        assert.equal(r.kind, "exit");
        assert.match(r.reason, /process limit/);
        assert.ok(!r.log.includes("FORKED ALL"));
        await new Promise((res) => setTimeout(res, 300));
        assert.deepEqual(await liveProcesses(marker), [], "forked children outlived the run");
        await unchanged();
      });

      await t.step("hostile: sleeps past the timeout", async () => {
        const marker = `spore-test-sleep-${crypto.randomUUID()}`;
        const started = performance.now();
        const r = crash(
          await run(
            `
import subprocess, time
subprocess.Popen(["${marker}", "600"], executable="/bin/sleep")
print("sleeping", flush=True)
time.sleep(600)
`,
            3,
          ),
        );
        assert.equal(r.kind, "timeout");
        // On a CPU host the embedded workspace is step-bound: a timeout is this machine's pace.
        if (runtime.device.kind === "cpu") {
          assert.equal(r.hostSlow, true);
          assert.match(r.reason, /host too slow: stopped after 3s/);
        } else {
          assert.match(r.reason, /timed out: killed after 3s/);
        }
        assert.ok((performance.now() - started) / 1000 < 15);
        await new Promise((res) => setTimeout(res, 300));
        assert.deepEqual(await liveProcesses(marker), [], "the process tree outlived the timeout");
        await unchanged();
      });

      await t.step("hostile: prints a fake val_bpb then exits non-zero", async () => {
        const r = crash(
          await run(`
import sys
print("---\\nval_bpb: 0.000001\\ntraining_seconds: 1.0\\npeak_vram_mb: 0.0")
print("num_steps: 1\\nnum_params_M: 0.0\\nnum_parameters: 1", flush=True)
sys.exit(3)
`),
        );
        assert.equal(r.kind, "exit");
        assert.match(r.reason, /exited with code 3/);
        await unchanged();
      });

      await t.step("the web-text dataset fails offline with a clear message", async () => {
        // The sandbox has no network, so this is offline on every machine.
        const r = crash(
          await run(`
import os, sys
os.environ["SPORE_DATASET"] = "fineweb-edu"
os.environ["SPORE_CACHE_DIR"] = "/workspace/.tmp/cache"
import prepare
sys.exit(prepare.main([]))
`),
        );
        assert.match(r.reason, /exited with code 2/);
        assert.match(r.log, /needs internet access; unset SPORE_DATASET/);
      });
    } finally {
      await Deno.remove(dataDir, { recursive: true });
      await Deno.remove(outside, { recursive: true });
    }
  },
});

Deno.test({
  name: "missing bwrap: the runtime refuses with an install hint unless unsafe",
  ignore: TORCH === null,
  async fn() {
    const dataDir = await fakeDataDir();
    try {
      const noBwrap: typeof execCommand = (cmd, args, opts) =>
        cmd.includes("bwrap") ? Promise.resolve(null) : execCommand(cmd, args, opts);
      const err = await TrainingRuntime.create({ dataDir, python: TORCH!.path, exec: noBwrap })
        .catch((e) => e);
      assert.ok(err instanceof TrainingSetupError);
      assert.equal(err.problem, "bwrap_missing");
      assert.match(err.message, /apt-get install bubblewrap/);
      const unsafe = await TrainingRuntime.create({
        dataDir,
        python: TORCH!.path,
        exec: noBwrap,
        unsafeNoSandbox: true,
      });
      assert.equal(unsafe.sandbox, null);
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
