import assert from "node:assert/strict";
import { openStores } from "../../src/store/mod.ts";
import { peersToDial, runNode } from "../../src/cli/run.ts";
import { loadConfig } from "../../src/config.ts";
import { collectText, makeRecords, startNode, vectorKey, waitFor } from "./helpers.ts";

Deno.test("spore run --genesis --no-train serves its graph and stops cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-run-" });
  const stores = openStores(dir);
  stores.graph.insertMany(makeRecords(120, vectorKey(0), { tag: "run" }));
  stores.close();
  const lines: string[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((r) => stop = r);
  const run = runNode(
    { train: false, genesis: true, port: 0, host: "127.0.0.1", dataDir: dir, explorer: false },
    { stopped, print: (l) => lines.push(l), tty: false, progressMs: 50 },
  );
  let peer;
  try {
    await waitFor(() => lines.some((l) => l.includes("gossip")), "banner");
    const port = Number(/gossip\s+127\.0\.0\.1:(\d+)/.exec(lines.join("\n"))![1]);
    assert.ok(port > 0);
    const text = lines.join("\n");
    assert.match(text, /node id\s+[0-9a-f]{64}/);
    assert.match(text, /peers\s+none \(genesis\)/);
    assert.match(text, /mode\s+sync-only/);
    assert.ok(!text.includes("research mode is not available"), "--no-train asks for sync-only");
    assert.equal((await Deno.readTextFile(`${dir}/spore.pid`)).trim(), String(Deno.pid));
    peer = await startNode({ peers: [`127.0.0.1:${port}`] });
    const p = peer;
    await waitFor(() => p.node.stores.graph.count() === 120, "a peer syncs from the run node");
    await waitFor(() => lines.some((l) => /peers 1/.test(l)), "a progress line");
  } finally {
    stop();
    await run;
    await peer?.stop();
  }
  assert.match(lines.at(-1)!, /^stopped\./);
  await assert.rejects(Deno.stat(`${dir}/spore.pid`), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("research mode without a usable Python says why and falls back to sync-only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-run-" });
  const lines: string[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((r) => stop = r);
  const run = runNode(
    {
      genesis: true,
      port: 0,
      host: "127.0.0.1",
      dataDir: dir,
      explorer: false,
      python: "/nonexistent/python3",
    },
    { stopped, print: (l) => lines.push(l), tty: false },
  );
  try {
    await waitFor(() => lines.some((l) => /^\s+mode/.test(l)), "banner");
    const text = lines.join("\n");
    assert.match(text, /research mode unavailable: .*python/i);
    assert.match(text, /falling back to sync-only/);
    assert.match(text, /mode\s+sync-only/);
  } finally {
    stop();
    await run;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM stops a syncing `spore run` process with every stored record durable", async () => {
  const source = await startNode();
  source.node.stores.graph.insertMany(makeRecords(3000, vectorKey(1), { tag: "sig" }));
  const dir = await Deno.makeTempDir({ prefix: "spore-run-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./run_fixture.ts", import.meta.url).pathname,
      "run",
      "--no-train",
      "--no-explorer",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--data-dir",
      dir,
      "--peer",
      source.address,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    // Stop it while records are (or have just been) arriving.
    await waitFor(() => source.node.peers().length === 1, "the child to connect", 20_000);
    await new Promise((r) => setTimeout(r, 150));
    child.kill("SIGTERM");
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
    const stored = Number(
      /stopped\. \d+ published by this node, (\d+) records stored/.exec(stdout)?.[1],
    );
    const stores = openStores(dir);
    try {
      assert.ok(stored > 0, stdout);
      assert.equal(stores.graph.count(), stored, "everything reported stored is on disk");
    } finally {
      stores.close();
    }
  } finally {
    await source.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("peersToDial merges config and --peer, validates, and honours --genesis", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-run-" });
  try {
    const config = { ...(await loadConfig(dir)), peer: ["10.0.0.1:7470"] };
    assert.deepEqual(peersToDial(config, { peer: ["10.0.0.2:7470", "10.0.0.1:7470"] }), [
      "10.0.0.1:7470",
      "10.0.0.2:7470",
    ]);
    assert.deepEqual(peersToDial(config, { genesis: true, peer: ["10.0.0.2:7470"] }), []);
    assert.throws(() => peersToDial(config, { genesis: true, peer: ["nope"] }), /invalid peer/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spore run takes the Python CLI's short flags: -p -w -c -d (and -r)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-run-short-" });
  const free = () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    return port;
  };
  const [p, w, peerPort] = [free(), free(), free()];
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "run", "--help"],
    stdout: "piped",
  }).output();
  const helpText = new TextDecoder().decode(help.stdout);
  for (
    const f of ["-p, --port", "-w, --web-port", "-c, --peer", "-r, --resource", "-d, --data-dir"]
  ) {
    assert.ok(helpText.includes(f), `run --help shows ${f}`);
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      main,
      "run",
      "--no-train",
      "-p",
      String(p),
      "-w",
      String(w),
      "-c",
      `127.0.0.1:${peerPort}`,
      "-d",
      dir,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = collectText(child.stdout);
  try {
    await waitFor(() => /mode\s+sync-only/.test(stdout.text()), "the banner", 60_000);
    const out = stdout.text();
    assert.match(out, new RegExp(`data dir\\s+${dir}`));
    assert.match(out, new RegExp(`gossip\\s+\\S+:${p}\\b`));
    assert.match(out, new RegExp(`explorer\\s+http://127\\.0\\.0\\.1:${w}/`));
    assert.match(out, new RegExp(`peers\\s+connecting to 127\\.0\\.0\\.1:${peerPort}`));
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await stdout.done;
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
