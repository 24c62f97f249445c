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
import { join } from "node:path";
import { NODE_V8_FLAGS } from "../../src/ops/launch.ts";
import { benchRecords } from "./lib/records.ts";
import {
  cpuSeconds,
  freePort,
  nodeEntry,
  rssMb,
  startNode,
  stop,
  streamRecords,
  waitListening,
  waitRows,
} from "./lib/nodes.ts";

const quick = Deno.args.includes("--quick");
/**
 * V8 flags of the node processes: those `deno task run` and the binary use, unless given
 * (`--v8-flags=` alone measures V8's defaults).
 */
const nodeV8Flags = Deno.args.find((a) => a.startsWith("--v8-flags=")) ?? NODE_V8_FLAGS;
const N = quick ? 5_000 : 50_000;

function report(name: string, value: number, unit: string, note: string): void {
  const v = unit === "MB" ? value.toFixed(1) : value.toFixed(0);
  console.log(`${name.padEnd(20)} ${v.padStart(8)} ${unit.padEnd(9)} (${note})`);
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
    const a = startNode(entry, { dataDir: dirA, port: portA });
    children.push(a);
    await waitListening(portA);

    // Ingest: stream every record over one connection, as a peer relaying them would.
    const cpuA0 = cpuSeconds(a.pid);
    const t0 = performance.now();
    const { conn, reader } = await streamRecords(portA, lines);
    const tIngest = await waitRows(dirA, N, 300_000);
    const ingestCpu = cpuSeconds(a.pid) - cpuA0;
    const rssIngest = rssMb(a.pid);
    conn.close();
    await reader;

    // Sync: a fresh node process pulls everything from A.
    const portB = freePort();
    const tSpawn = performance.now();
    const b = startNode(entry, { dataDir: dirB, port: portB, peers: [`127.0.0.1:${portA}`] });
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
  const value = xs[Math.floor(xs.length / 2)]!;
  const note = xs.length > 1
    ? `median of ${xs.length}, range ${xs[0]!.toFixed(digits)}-${
      xs[xs.length - 1]!.toFixed(digits)
    }`
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
const lines = await benchRecords(N);
const tmp = await Deno.makeTempDir({ prefix: "spore-bench-net-" });
try {
  const entry = await nodeEntry(tmp, nodeV8Flags);
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
