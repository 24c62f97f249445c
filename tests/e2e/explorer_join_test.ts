import assert from "node:assert/strict";
import { collectText, makeRecords, startNode, vectorKey, waitFor } from "../net/helpers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("spore explorer -p -w -c with no node on the data dir runs its own gossip node and syncs", async () => {
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "explorer", "--help"],
    stdout: "piped",
  }).output();
  const helpText = new TextDecoder().decode(help.stdout);
  for (const f of ["-p, --port", "-w, --web-port", "-c, --peer"]) {
    assert.ok(helpText.includes(f), `explorer --help shows ${f}`);
  }
  await joinAndSync(
    (address) => ["-p", "0", "-c", address],
    () => "bootstrap = []\n",
  );
});

Deno.test("spore explorer with no flags and no node on the data dir joins the network (as the Python explorer does)", async () => {
  await joinAndSync(
    () => [],
    (address) => `port = 0\nbootstrap = []\npeer = ["${address}"]\n`,
  );
});

/** Start a peer with 40 records, then `spore explorer` with `flags`; its graph must sync. */
async function joinAndSync(
  flags: (address: string) => string[],
  config: (address: string) => string,
): Promise<void> {
  const running = await startNode();
  const recs = makeRecords(40, vectorKey(0), { tag: "explorer-join" });
  running.node.stores.graph.insertMany(recs);
  const dir = await Deno.makeTempDir({ prefix: "spore-explorer-join-" });
  await Deno.writeTextFile(`${dir}/config.toml`, config(running.address));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "explorer",
      "--data-dir",
      dir,
      "-w",
      "0",
      ...flags(running.address),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = collectText(child.stdout);
  try {
    await waitFor(
      () => /explorer: http:\/\/127\.0\.0\.1:\d+\//.test(stdout.text()),
      "the explorer",
      60_000,
    );
    const out = stdout.text();
    assert.match(out, /sync-only gossip node on .*connecting to 127\.0\.0\.1:\d+/);
    const url = /explorer: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)![1]!;
    let count = 0;
    await waitFor(
      () => {
        fetch(`${url}api/stat`).then((r) => r.json()).then((s) => count = s.experiment_count)
          .catch(() => {});
        return count === recs.length;
      },
      "the graph synced from the peer",
      30_000,
    );
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await stdout.done;
    await child.stderr.cancel().catch(() => {});
    await running.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
