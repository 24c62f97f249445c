/**
 * `spore train` and `spore doctor` (src/cli/train.ts, src/cli/doctor.ts). Lives here until the CLI
 * registers these commands in src/cli/commands.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { renderProgress } from "../../src/cli/train.ts";
import { runDoctor } from "../../src/cli/doctor.ts";
import { loadConfig } from "../../src/config.ts";
import { prepareData } from "../../src/training/mod.ts";
import { sha256Hex } from "../../src/protocol/hash.ts";
import { BWRAP, TORCH } from "./_env.ts";

Deno.test("renderProgress draws a bar with step, loss, speed and ETA", () => {
  const line = renderProgress({
    phase: "training",
    elapsedSeconds: 10,
    progress: { step: 75, percent: 50, loss: 1.623456, tokPerSec: 7100.4, remainingSeconds: 35.2 },
  }, 10);
  assert.equal(line, "[#####-----]  50.0% | step 75 | loss 1.6235 | 7,100 tok/s | ETA 35s");
  assert.equal(renderProgress({ phase: "evaluating", elapsedSeconds: 3 }), "evaluating val_bpb...");
  assert.match(
    renderProgress({ phase: "starting", elapsedSeconds: 0, retry: true }),
    /retry without compile/,
  );
});

Deno.test("doctor: nothing installed gives a fix for each missing piece", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = { ...(await loadConfig(dir)), port: 0, web_port: 0 };
    const checks = await runDoctor(dir, config, { exec: () => Promise.resolve(null) });
    const byName = new Map(checks.map((c) => [c.name, c]));
    const py = byName.get("python + torch")!;
    assert.equal(py.status, "fail");
    assert.match(py.fix, /apt-get install python3-torch/);
    const sb = byName.get("sandbox (bwrap)")!;
    assert.equal(sb.status, "fail");
    assert.match(sb.fix, /apt-get install bubblewrap/);
    assert.equal(byName.get("gossip port 0")?.status, "ok");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("doctor: a port in use is reported with a fix", async () => {
  const dir = await Deno.makeTempDir();
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    const config = { ...(await loadConfig(dir)), host: "127.0.0.1", port, web_port: 0 };
    const checks = await runDoctor(dir, config, { exec: () => Promise.resolve(null) });
    const c = checks.find((c) => c.name === `gossip port ${port}`)!;
    assert.equal(c.status, "fail");
    assert.match(c.fix, /another port/);
  } finally {
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "doctor: on a machine with torch and bwrap, python and sandbox pass; data gets ready",
  ignore: TORCH === null || BWRAP === null,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const config = { ...(await loadConfig(dir)), port: 0, web_port: 0 };
      const status = async () =>
        new Map((await runDoctor(dir, config)).map((c) => [c.name, c.status]));
      const before = await status();
      assert.equal(before.get("python + torch"), "ok");
      assert.equal(before.get("sandbox (bwrap)"), "ok");
      assert.equal(before.get("training data"), "warn");
      await prepareData({ python: TORCH!.path, cacheDir: join(dir, "cache") });
      assert.equal((await status()).get("training data"), "ok");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const CLI = `
import { Command } from "commander";
import { registerTrain } from ${
  JSON.stringify(new URL("../../src/cli/train.ts", import.meta.url).href)
};
import { reportError } from ${
  JSON.stringify(new URL("../../src/cli/errors.ts", import.meta.url).href)
};
const p = new Command("spore").exitOverride();
registerTrain(p);
try { await p.parseAsync(Deno.args, { from: "user" }); } catch (e) { Deno.exit(reportError(e)); }
`;

async function spore(dir: string, ...args: string[]) {
  const script = join(dir, "cli.ts");
  await Deno.writeTextFile(script, CLI);
  const config = new URL("../../deno.json", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", config, script, ...args],
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

Deno.test({
  name: "spore train --json runs a sandboxed training and prints the parsed result",
  ignore: TORCH === null || BWRAP === null,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const data = join(dir, "data");
      const r = await spore(dir, "train", "--json", "--max-steps", "1", "--data-dir", data);
      assert.equal(r.code, 0, r.err);
      const out = JSON.parse(r.out);
      assert.equal(out.ok, true);
      assert.equal(out.num_steps, 1);
      assert.ok(out.val_bpb > 0);
      assert.equal(out.sandboxed, true);
      assert.match(out.code_cid, /^[0-9a-f]{64}$/);
      // With no FILE it trains the data dir's workspace copy (created from the bundled one).
      const copy = await Deno.readFile(join(data, "workspace", "train.py"));
      assert.equal(out.code_cid, sha256Hex(copy));
      // A crashing file exits non-zero with the reason.
      const bad = join(dir, "bad.py");
      await Deno.writeTextFile(bad, "raise SystemExit('no model today')\n");
      const c = await spore(dir, "train", bad, "--data-dir", data);
      assert.equal(c.code, 1);
      assert.match(c.out, /crash/);
      assert.match(c.err, /training crashed: train.py exited with code 1: no model today/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("spore train: a missing file is a clear error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await spore(dir, "train", join(dir, "nope.py"), "--data-dir", dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot read .*nope\.py/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
