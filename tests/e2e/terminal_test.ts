/**
 * What a person sees of `spore run`: on a real pseudo-terminal (util-linux `script`), every line
 * left in the scrollback is either a message or a finished run, never the live status line glued
 * to a progress bar; through a pipe, plain lines without carriage returns.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  STANDIN_TRAIN,
  standinFlags,
  writeStandinWorkspace,
} from "../fixtures/autoresearch_workspace.ts";
import { replayTerminal } from "../cli/terminal.ts";
import { BWRAP, TORCH } from "../training/_env.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const SCRIPT = "/usr/bin/script";

/** The stand-in, slowed down so the live line is redrawn while it trains. */
const SLOW_TRAIN = STANDIN_TRAIN
  .replace("num_steps = 3", "num_steps = 8")
  .replace(
    "    sys.stdout.flush()\n",
    "    sys.stdout.flush()\n    __import__('time').sleep(0.4)\n",
  );

async function nodeArgs(root: string): Promise<string[]> {
  const ws = await writeStandinWorkspace(root);
  await Deno.writeTextFile(join(ws.dir, "train.py"), SLOW_TRAIN);
  const data = join(root, "data");
  await Deno.mkdir(data, { recursive: true });
  await Deno.writeTextFile(join(data, "config.toml"), "bootstrap = []\n");
  return [
    "run",
    "-A",
    MAIN,
    "run",
    "--genesis",
    "--no-explorer",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--data-dir",
    data,
    ...standinFlags(ws),
    "--max-experiments",
    "1",
  ];
}

/**
 * Run `cmd`, and once its output shows the baseline was published, stop the node
 * with SIGINT (as Ctrl-C does) through the pid it wrote in its data dir.
 */
async function runUntilBaseline(
  root: string,
  cmd: string,
  args: string[],
): Promise<{ code: number; text: string }> {
  const child = new Deno.Command(cmd, {
    args,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const errText = (async () => {
    let t = "";
    for (let r = await stderr.read(); !r.done; r = await stderr.read()) t += r.value;
    return t;
  })();
  let text = "";
  let signalled = false;
  const deadline = setTimeout(() => child.kill("SIGKILL"), 300_000);
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    if (!signalled && /research: baseline val_bpb [\d.]+ published/.test(text)) {
      signalled = true;
      const pid = Number((await Deno.readTextFile(join(root, "data", "spore.pid"))).trim());
      Deno.kill(pid, "SIGINT");
    }
  }
  clearTimeout(deadline);
  const { code } = await child.status;
  return { code, text: text + await errText };
}

const PROGRESS_BAR = /\[[#-]{10,}\]/;
const NETWORK = /peers \d+ · graph \d+/;

Deno.test({
  name:
    "terminal: on a pseudo-TTY no scrollback line holds both the status line and a progress bar",
  ignore: TORCH === null || BWRAP === null ||
    !(await Deno.stat(SCRIPT).then(() => true, () => false)),
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "spore-tty-" });
    try {
      const args = await nodeArgs(root);
      const quoted = [Deno.execPath(), ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`);
      const out = await runUntilBaseline(root, SCRIPT, [
        "-qfec",
        `stty cols 160 rows 40; exec ${quoted.join(" ")}`,
        "/dev/null",
      ]);
      const raw = out.text;
      assert.equal(out.code, 0, raw.slice(-3000));
      assert.ok(raw.includes("\r\x1b[2K"), "the live line is rewritten in place");
      const { lines } = replayTerminal(raw);
      const glued = lines.filter((l) => PROGRESS_BAR.test(l) && NETWORK.test(l));
      assert.deepEqual(glued, [], "a scrollback line holds both the status line and a bar");
      assert.ok(lines.some((l) => /\[baseline\] done in \d+s/.test(l)), lines.join("\n"));
      assert.ok(lines.some((l) => /stopped\. [1-9]\d* published by this node/.test(l)), raw);
      // The live line itself was a progress bar with the network status beside it at some point.
      assert.ok(
        raw.split("\r\x1b[2K").some((frame) => PROGRESS_BAR.test(frame) && NETWORK.test(frame)),
        "the live line folds progress and network status",
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "terminal: through a pipe the output is plain lines without carriage returns",
  ignore: TORCH === null || BWRAP === null,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "spore-pipe-" });
    try {
      const out = await runUntilBaseline(root, Deno.execPath(), await nodeArgs(root));
      const text = out.text;
      assert.equal(out.code, 0, text.slice(-3000));
      assert.ok(!text.includes("\r"), "no carriage return on a pipe");
      assert.match(text, /\[baseline\] \[[#-]+\]/);
      assert.match(text, /stopped\. [1-9]\d* published by this node/);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
