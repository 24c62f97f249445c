/**
 * The last row of the hostile-peers table, against the node as users run it: a `train.py` that
 * allocates memory, trained by a node started with `deno task run`'s flags (heap cap included) and
 * a 256 MiB training memory limit. The run ends as an out-of-memory crash; the node lives on.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeFrame, envelope } from "../../src/protocol/mod.ts";
import { collectText, RawPeer, waitFor } from "../net/helpers.ts";
import { standinFlags, writeStandinWorkspace } from "../fixtures/autoresearch_workspace.ts";
import { runTaskFlags } from "./fixtures/victim.ts";
import { BWRAP, TORCH } from "../training/_env.ts";
import { MEMORY_HOG_TRAIN } from "../fixtures/memory_hog.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "a node run as `deno task run` survives a train.py that allocates past its memory limit",
  ignore: TORCH === null || BWRAP === null,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "spore-oom-" });
    const ws = await writeStandinWorkspace(root);
    await Deno.writeTextFile(join(ws.dir, "train.py"), MEMORY_HOG_TRAIN);
    const data = join(root, "data");
    await Deno.mkdir(data);
    await Deno.writeTextFile(join(data, "config.toml"), 'host = "127.0.0.1"\nbootstrap = []\n');
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...runTaskFlags(data),
        join(ROOT, "main.ts"),
        "run",
        "--genesis",
        "--no-explorer",
        "--port",
        "0",
        "--data-dir",
        data,
        ...standinFlags(ws),
        "--train-memory-limit",
        "256MiB",
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = collectText(child.stdout);
    let peer: RawPeer | undefined;
    try {
      await waitFor(
        () => /out of memory/.test(stdout.text()),
        "the baseline to end out of memory",
        180_000,
      );
      assert.match(stdout.text(), /baseline crashed \(out of memory/);
      const port = Number(JSON.parse(await Deno.readTextFile(join(data, "peers.json"))).port);
      const p = peer = await RawPeer.connect(port);
      await p.write(encodeFrame(envelope("ping", {})));
      await waitFor(() => p.received.some((m) => m.type === "pong"), "pong after the OOM run");
    } finally {
      await peer?.close();
      child.kill("SIGTERM");
      const status = await child.status;
      await stdout.done;
      await child.stderr.cancel().catch(() => {});
      await Deno.remove(root, { recursive: true });
      assert.equal(status.code, 0, stdout.text());
    }
  },
});
