/**
 * `spore explorer` as a real process: serves a data dir, follows records another process adds,
 * and stops cleanly on SIGTERM.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openStores } from "../../src/store/mod.ts";
import { makeRecord } from "../explorer/helpers.ts";
import { take } from "../tuple.ts";

const ROOT = join(import.meta.dirname ?? ".", "..", "..");

/** Run `registerExplorer` in a child Deno with the given CLI arguments. */
function spawnExplorer(args: string[]): Deno.ChildProcess {
  const code = `import { Command } from "commander";
import { registerExplorer } from "./src/cli/explorer.ts";
const program = new Command("spore").exitOverride();
registerExplorer(program);
try {
  await program.parseAsync(${JSON.stringify(args)}, { from: "user" });
} catch (e) {
  console.error("error: " + e.message);
  Deno.exit(1);
}`;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/** Read stdout until a line matches, returning the match. */
async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  re: RegExp,
): Promise<RegExpMatchArray> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`process ended before printing ${re}: ${text}`);
      text += decoder.decode(value, { stream: true });
      const m = text.match(re);
      if (m) return m;
    }
  } finally {
    reader.releaseLock();
  }
}

Deno.test("cli: spore explorer --offline serves a data dir, follows new records, stops on SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-explorer-cli-" });
  const stores = openStores(dir);
  const child = spawnExplorer(["explorer", "--offline", "--data-dir", dir, "--web-port", "0"]);
  try {
    const first = makeRecord();
    stores.graph.insert(first);
    const [, url] = take(
      await waitForLine(child.stdout, /explorer: (http:\/\/127\.0\.0\.1:\d+\/)/),
      2,
    );
    const stat = await (await fetch(`${url}api/stat`)).json();
    assert.equal(stat.experiment_count, 1);
    assert.equal(stat.peer_count, 0);

    const ws = new WebSocket(`${url.replace("http", "ws")}ws`);
    const message = new Promise<{ type: string; data: { id: string } }>((resolve) => {
      ws.onmessage = (e) => resolve(JSON.parse(e.data));
    });
    await new Promise((resolve) => (ws.onopen = resolve));
    // Another process (a running node) stores a record in the same data dir.
    const second = makeRecord({ parent: first });
    stores.graph.insert(second);
    const msg = await message;
    assert.equal(msg.type, "experiment");
    assert.equal(msg.data.id, second.id);
    const closed = new Promise((resolve) => (ws.onclose = resolve));
    ws.close();
    await closed;

    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.stderr.cancel().catch(() => {});
    await child.stdout.cancel().catch(() => {});
    stores.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: spore explorer refuses a bad --web-port with a clear message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-explorer-cli-" });
  try {
    const child = spawnExplorer(["explorer", "--data-dir", dir, "--web-port", "99999"]);
    const out = await child.output();
    assert.equal(out.code, 1);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /--web-port must be a number from 0 to 65535/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: with a node answering on the gossip port, spore explorer attaches as a peer", async () => {
  const { makeRecords, startNode, vectorKey } = await import("../net/helpers.ts");
  const running = await startNode();
  const dir = await Deno.makeTempDir({ prefix: "spore-explorer-attach-" });
  const port = Number(running.address.split(":")[1]);
  await Deno.writeTextFile(join(dir, "config.toml"), `port = ${port}\n`);
  let child: Deno.ChildProcess | undefined;
  try {
    const recs = makeRecords(25, vectorKey(0), { tag: "attach" });
    running.node.stores.graph.insertMany(recs);
    child = spawnExplorer(["explorer", "--data-dir", dir, "--web-port", "0"]);
    const [line, url] = await waitForLine(
      child.stdout,
      /explorer: (http:\/\/127\.0\.0\.1:\d+\/) \(attached as a peer[^\n]*/,
    );
    assert.match(line, new RegExp(`node on 127\\.0\\.0\\.1:${port}`));
    let stat = { experiment_count: 0, peer_count: 0 };
    for (let i = 0; i < 100 && stat.experiment_count < 25; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stat = await (await fetch(`${url}api/stat`)).json();
    }
    assert.equal(stat.experiment_count, 25, "the explorer's node synced the running node's graph");
    assert.equal(stat.peer_count, 1);
    // Live: a record published on the running node reaches the explorer through gossip.
    const [next] = take(makeRecords(1, vectorKey(1), { tag: "attach-live" }), 1);
    await running.node.publish(next);
    let found = false;
    for (let i = 0; i < 100 && !found; i++) {
      await new Promise((r) => setTimeout(r, 100));
      found = (await fetch(`${url}api/experiment/${next.id}`)).status === 200;
    }
    assert.ok(found, "a record gossiped after attaching is served");
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
  } finally {
    try {
      child?.kill("SIGKILL");
    } catch { /* already exited */ }
    await child?.stderr.cancel().catch(() => {});
    await child?.stdout.cancel().catch(() => {});
    await running.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
