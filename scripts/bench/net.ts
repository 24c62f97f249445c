/**
 * Network benchmark: two `spore run --no-train` node processes on loopback.
 *
 * - ingest: 50,000 signed records streamed over one raw connection into a node, timed until
 *   they are all committed to its SQLite graph;
 * - sync: a fresh node process pulls the 50,000 records from that node;
 * - resident memory (VmRSS) of both node processes holding 50,000 records.
 *
 * Run: deno run -A scripts/bench/net.ts [--quick] [--runs N] [--v8-flags=...]
 *   --quick: 5,000 records, one run; --runs: trials (default 3), each figure is their median;
 *   --v8-flags: for the node processes (default: the node's own).
 * Signed records are generated once (signing is the slow part) and cached in the temp dir.
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, sign } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  bytesToHex,
  canonicalRecord,
  encodeFrame,
  envelopeRaw,
  type ExperimentRecord,
  keyPairFromSeed,
  recordJson,
  sha256Hex,
} from "../../src/protocol/mod.ts";
import { NODE_V8_FLAGS } from "../../src/ops/launch.ts";

const quick = Deno.args.includes("--quick");
/**
 * V8 flags of the node processes: those `deno task run` and the binary use, unless given
 * (`--v8-flags=` alone measures V8's defaults).
 */
const nodeV8Flags = Deno.args.find((a) => a.startsWith("--v8-flags=")) ?? NODE_V8_FLAGS;
const N = quick ? 5_000 : 50_000;
const ROOT = new URL("../../", import.meta.url).pathname;
const encoder = new TextEncoder();

/** Signed records as wire JSON lines, cached in the temp dir between runs. */
async function records(): Promise<string[]> {
  const cache = join(tmpdir(), `spore-bench-net-${N}-v1.jsonl`);
  try {
    const lines = (await Deno.readTextFile(cache)).split("\n").filter((l) => l);
    if (lines.length === N) return lines;
  } catch { /* not cached yet */ }
  const t0 = performance.now();
  const out: string[] = [];
  const keys = Array.from({ length: 8 }, (_, k) => {
    const pair = keyPairFromSeed(Buffer.from(sha256Hex(`bench-key-${k}`), "hex"));
    const der = Buffer.from("302e020100300506032b657004220420" + bytesToHex(pair.seed), "hex");
    return { pair, key: createPrivateKey({ key: der, format: "der", type: "pkcs8" }) };
  });
  let parent: string | null = null;
  for (let i = 0; i < N; i++) {
    const k = keys[i % keys.length];
    const payload = {
      version: 1,
      parent,
      depth: parent ? 1 : 0,
      code_cid: sha256Hex(`code ${i}`),
      diff: `--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-lr = 0.001\n+lr = ${i}e-6\n`,
      dataset_cid: "d".repeat(64),
      prepare_cid: "e".repeat(64),
      time_budget: 300,
      val_bpb: 1.2 + (i % 997) / 10_000,
      peak_vram_mb: 20480.5,
      num_steps: 1000 + i,
      num_params: 50_000_000,
      status: i % 4 === 3 ? "discard" : "keep",
      description: `bench experiment ${i}: try a smaller learning rate`,
      hypothesis: "a smaller learning rate lowers val_bpb",
      agent_model: "bench",
      gpu_model: "NVIDIA H100 80GB HBM3",
      cuda_version: "12.4",
      torch_version: "2.5.1",
      node_id: k.pair.nodeId,
      timestamp: 1_700_000_000 + i,
    } as const;
    const bytes = encoder.encode(canonicalRecord(payload));
    const rec: ExperimentRecord = {
      ...payload,
      id: sha256Hex(bytes),
      signature: bytesToHex(new Uint8Array(sign(null, bytes, k.key))),
    };
    parent = i % 50 === 49 ? null : rec.id;
    out.push(recordJson(rec));
  }
  await Deno.writeTextFile(cache, out.join("\n") + "\n");
  console.log(
    `# generated ${N} signed records in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s (cached in ${cache})`,
  );
  return out;
}

/** How to start a node process: main.ts once `run` is registered there, else a tiny entry. */
async function nodeEntry(tmp: string): Promise<string[]> {
  const main = join(ROOT, "main.ts");
  const probe = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "run", "--help"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const flags = nodeV8Flags === "--v8-flags=" ? [] : [nodeV8Flags];
  if (new TextDecoder().decode(probe.stdout).includes("--no-train")) {
    return ["run", "-A", ...flags, main];
  }
  const entry = join(tmp, "entry.ts");
  await Deno.writeTextFile(
    entry,
    `import { Command } from "commander";\n` +
      `import { registerRun } from "${new URL("src/cli/run.ts", `file://${ROOT}`).href}";\n` +
      `const p = new Command("spore");\nregisterRun(p);\nawait p.parseAsync(Deno.args, { from: "user" });\n`,
  );
  return ["run", "-A", ...flags, "--config", join(ROOT, "deno.json"), entry];
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function startNode(entry: string[], dataDir: string, port: number, peer?: string) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      ...entry,
      "run",
      "--no-train",
      "--no-explorer",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
      ...(peer ? ["--peer", peer] : ["--genesis"]),
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

/** Committed rows in a node's graph, read from outside the process (WAL readers are fine). */
function countRows(dataDir: string): number {
  try {
    const db = new DatabaseSync(join(dataDir, "db", "graph.sqlite"), { readOnly: true });
    try {
      return Number(db.prepare("SELECT COUNT(*) AS n FROM experiment").get()?.n ?? 0);
    } finally {
      db.close();
    }
  } catch {
    return 0; // not created yet
  }
}

async function waitRows(dataDir: string, n: number, timeoutMs: number): Promise<number> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (countRows(dataDir) >= n) return performance.now();
    if (performance.now() > end) throw new Error(`timed out: ${countRows(dataDir)}/${n} rows`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function waitListening(port: number, timeoutMs = 30_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      if (performance.now() > end) throw new Error(`node on port ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

function report(name: string, value: number, unit: string, note: string): void {
  const v = unit === "MB" ? value.toFixed(1) : value.toFixed(0);
  console.log(`${name.padEnd(20)} ${v.padStart(8)} ${unit.padEnd(9)} (${note})`);
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  await child.status;
}

/** Figures of one trial. */
interface Trial {
  ingest: number;
  ingestPerCpu: number;
  sync: number;
  syncWithStart: number;
  syncPerCpu: number;
  rssIngest: number;
  rssSync: number;
}

/** One trial: ingest into a fresh node A, then a fresh node B syncs from A. */
async function trial(lines: string[], entry: string[], tmp: string): Promise<Trial> {
  const children: Deno.ChildProcess[] = [];
  try {
    const dirA = join(tmp, "a");
    const dirB = join(tmp, "b");
    const portA = freePort();
    const a = startNode(entry, dirA, portA);
    children.push(a);
    await waitListening(portA);

    // Ingest: stream every record over one connection, as a peer relaying them would.
    const frames = lines.map((l) => encodeFrame(envelopeRaw("experiment", l)));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: portA });
    const reader = (async () => {
      const buf = new Uint8Array(65536);
      try {
        while ((await conn.read(buf)) !== null) { /* discard hello/sync_request */ }
      } catch { /* closed */ }
    })();
    const cpuA0 = cpuSeconds(a.pid);
    const t0 = performance.now();
    const CHUNK = 512;
    for (let i = 0; i < frames.length; i += CHUNK) {
      const group = frames.slice(i, i + CHUNK);
      const size = group.reduce((s, f) => s + f.length, 0);
      const buf = new Uint8Array(size);
      let off = 0;
      for (const f of group) {
        buf.set(f, off);
        off += f.length;
      }
      for (let w = 0; w < buf.length;) w += await conn.write(buf.subarray(w));
    }
    const tIngest = await waitRows(dirA, N, 300_000);
    const ingestCpu = cpuSeconds(a.pid) - cpuA0;
    const rssIngest = rssMb(a.pid);
    conn.close();
    await reader;

    // Sync: a fresh node process pulls everything from A.
    const portB = freePort();
    const tSpawn = performance.now();
    const b = startNode(entry, dirB, portB, `127.0.0.1:${portA}`);
    children.push(b);
    const tFirst = await waitRows(dirB, 1, 60_000);
    const cpuB0 = cpuSeconds(b.pid);
    const tSync = await waitRows(dirB, N, 300_000);
    const syncCpu = cpuSeconds(b.pid) - cpuB0;
    return {
      ingest: N / ((tIngest - t0) / 1000),
      ingestPerCpu: N / ingestCpu,
      sync: N / ((tSync - tFirst) / 1000),
      syncWithStart: N / ((tSync - tSpawn) / 1000),
      syncPerCpu: N / syncCpu,
      rssIngest,
      rssSync: rssMb(b.pid),
    };
  } finally {
    for (const c of children) await stop(c);
    await Deno.remove(join(tmp, "a"), { recursive: true }).catch(() => {});
    await Deno.remove(join(tmp, "b"), { recursive: true }).catch(() => {});
  }
}

/** Median of one figure over the trials, with the range when there are several. */
function summary(trials: Trial[], key: keyof Trial, digits = 0): { value: number; note: string } {
  const xs = trials.map((t) => t[key]).sort((x, y) => x - y);
  const value = xs[Math.floor(xs.length / 2)];
  const note = xs.length > 1
    ? `median of ${xs.length}, range ${xs[0].toFixed(digits)}-${xs[xs.length - 1].toFixed(digits)}`
    : "1 run";
  return { value, note };
}

/** Trials to run (`--runs N`); the machine's noise between runs is often 10% or more. */
function runCount(): number {
  const i = Deno.args.indexOf("--runs");
  const n = i >= 0 ? Number(Deno.args[i + 1]) : quick ? 1 : 3;
  if (!Number.isSafeInteger(n) || n < 1 || n > 20) {
    throw new Error("--runs takes a whole number from 1 to 20");
  }
  return n;
}

const runs = runCount();
const lines = await records();
const tmp = await Deno.makeTempDir({ prefix: "spore-bench-net-" });
try {
  const entry = await nodeEntry(tmp);
  const trials: Trial[] = [];
  for (let i = 0; i < runs; i++) trials.push(await trial(lines, entry, tmp));
  const ingest = summary(trials, "ingest");
  const perCpu = summary(trials, "ingestPerCpu");
  report(
    "net.ingest",
    ingest.value,
    "records/s",
    `${N} records until durable, ${ingest.note}; ${
      perCpu.value.toFixed(0)
    } per CPU-second of the node`,
  );
  const sync = summary(trials, "sync");
  const withStart = summary(trials, "syncWithStart");
  const syncCpu = summary(trials, "syncPerCpu");
  report(
    "net.sync",
    sync.value,
    "records/s",
    `first to last record durable, ${sync.note}; ${withStart.value.toFixed(0)}/s including ` +
      `process start; ${syncCpu.value.toFixed(0)} per CPU-second of the pulling node`,
  );
  const rssA = summary(trials, "rssIngest", 1);
  const rssB = summary(trials, "rssSync", 1);
  report(
    "net.rss_ingest_node",
    rssA.value,
    "MB",
    `node holding ${N} records after ingest, ${rssA.note}`,
  );
  report(
    "net.rss_sync_node",
    rssB.value,
    "MB",
    `fresh node after syncing ${N} records, ${rssB.note}`,
  );
} finally {
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
