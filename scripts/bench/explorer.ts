/**
 * Explorer benchmark (issue 5): p95 latency of `/api/graph` (default bounded view, full records
 * and the UI's summary form), `/api/frontier` and `/api/recent` over HTTP on loopback (target
 * < 100 ms), and the page's time to interactive in headless Chromium (target < 3 s), measured
 * as navigation start to the UI's `spore-ready` mark (DAG laid out, frontier table and
 * leaderboard filled). Then the graph grows to 1,000,000 records (100,000 with --quick) and
 * `/api/progress` (the dashboard chart, issue 18) is measured: the first requests that read the
 * graph into a filter's series (cold), then its p95 (target < 100 ms).
 *
 *   full:    100,000 experiments;  --quick: 10,000
 *
 * Records are synthetic, shape-valid and unsigned (ids are hashes of a counter): the explorer
 * reads stored records and never re-verifies them, so signing would only slow the setup. The
 * graph grows like a research run: each record extends a recent or random earlier one, results
 * improve slowly, about 40% keep, 45% discard, 15% crash, over 8 GPU models and 64 nodes.
 *
 * Run: deno run -A scripts/bench/explorer.ts [--quick] [--screenshot]
 * (`--screenshot` saves the loaded dashboard to test-output/explorer-bench.png.)
 */
import { join } from "node:path";
import { chromium } from "playwright-core";
import {
  type ExperimentRecord,
  type ExperimentStatus,
  keyPairFromSeed,
  recordId,
  sha256Hex,
  signProfile,
} from "../../src/protocol/mod.ts";
import { openStores, type Stores } from "../../src/store/mod.ts";
import { startExplorer } from "../../src/explorer/server.ts";
import type { NodeEvent, NodeHandle } from "../../src/node_types.ts";
import { seededRandom as prng } from "../../src/research/mutator.ts";

const quick = Deno.args.includes("--quick");
const screenshot = Deno.args.includes("--screenshot");
const N = quick ? 10_000 : 100_000;
const PROGRESS_N = quick ? 100_000 : 1_000_000;
const REQUESTS = quick ? 30 : 60;
const PAGE_LOADS = 5;
const CHROMIUM = "/usr/bin/chromium";

const GPUS = [
  "NVIDIA H100 80GB HBM3",
  "NVIDIA A100-SXM4-40GB",
  "NVIDIA GeForce RTX 4090",
  "NVIDIA GeForce RTX 3090",
  "NVIDIA GeForce RTX 5090",
  "Apple M3 Max (MPS)",
  "NVIDIA RTX 3060",
  "cpu",
];
const SEEDS = Array.from({ length: 64 }, (_, i) => new Uint8Array(32).fill(i + 1));
const NODES = SEEDS.map((s) => keyPairFromSeed(s).nodeId);
const SIGNATURE = "0".repeat(128);
const DIFF =
  "--- a/train.py\n+++ b/train.py\n@@ -41,7 +41,7 @@\n-LR = 0.04\n+LR = 0.03\n WARMUP = 100\n";

/** Lineage state of {@link seed}, carried across calls so the graph keeps growing alike. */
const rand = prng(42);
const recs: { id: string; bpb: number; depth: number }[] = [];

/** Build and store records `from` to `n - 1` in batches; returns seconds taken. */
function seed(stores: Stores, n: number, from = 0): number {
  const t0 = performance.now();
  let batch: ExperimentRecord[] = [];
  for (let i = from; i < n; i++) {
    const parent = i === 0
      ? undefined
      : rand() < 0.8
      ? recs[recs.length - 1 - Math.floor(rand() * Math.min(200, recs.length))]
      : recs[Math.floor(rand() * recs.length)];
    const r = rand();
    const status: ExperimentStatus = r < 0.4 ? "keep" : r < 0.85 ? "discard" : "crash";
    const base = parent ? parent.bpb : 1.2;
    const bpb = status === "crash" ? 0 : Math.max(0.5, base + (rand() - 0.6) * 0.01);
    const payload = {
      version: 1,
      parent: parent?.id ?? null,
      depth: parent ? parent.depth + 1 : 0,
      code_cid: sha256Hex(`code${i}`),
      diff: DIFF,
      dataset_cid: "climbmix-400b-shuffle",
      prepare_cid: "ab".repeat(32),
      time_budget: 300,
      val_bpb: bpb,
      peak_vram_mb: 40000 + Math.floor(rand() * 5000) + 0.5,
      num_steps: 900 + Math.floor(rand() * 100),
      num_params: 50_331_648,
      status,
      description: `experiment ${i}: adjust learning rate schedule`,
      hypothesis: "a gentler schedule reduces loss spikes",
      agent_model: "bench",
      gpu_model: GPUS[i % GPUS.length]!,
      cuda_version: "12.8",
      torch_version: "2.9.0",
      node_id: NODES[Math.floor(rand() * NODES.length)]!,
      timestamp: 1_770_000_000 + i * 30,
    };
    const id = recordId(payload);
    batch.push({ id, ...payload, signature: SIGNATURE });
    // Crashed runs are never extended.
    if (status !== "crash") recs.push({ id, bpb: bpb, depth: payload.depth });
    if (batch.length === 5000) {
      stores.graph.insertMany(batch);
      batch = [];
    }
  }
  stores.graph.insertMany(batch);
  if (from > 0) return (performance.now() - t0) / 1000;
  for (let k = 0; k < 16; k++) {
    stores.profiles.upsert(signProfile({
      node_id: NODES[k]!,
      display_name: `lab-${k}`,
      bio: "",
      website: "",
      avatar_url: "",
      donation_address: "",
      timestamp: 1_770_000_000,
      schema_version: 1,
    }, SEEDS[k]!));
    stores.reputation.applyEvent(`bench:${k}`, "bench", [{ nodeId: NODES[k]!, score: k / 2 }]);
  }
  return (performance.now() - t0) / 1000;
}

/** A NodeHandle over the stores with no network (the explorer only reads). */
function benchNode(stores: Stores): NodeHandle {
  return {
    nodeId: NODES[0]!,
    stores,
    events: { on: (_l: (e: NodeEvent) => void) => () => {} },
    peers: () => [],
    fetchArtifact: (cid) => stores.artifacts.get(cid),
    publish: () => Promise.reject(new Error("read-only bench node")),
  };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

async function latency(url: string): Promise<{ p50: number; p95: number; bytes: number }> {
  let bytes = 0;
  for (let i = 0; i < 3; i++) bytes = (await (await fetch(url)).arrayBuffer()).byteLength;
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    times.push(performance.now() - t0);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  }
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p95: quantile(times, 0.95), bytes };
}

/** Per page load: ms from navigation start to graph loaded, graph laid out, page ready. */
const phases: number[][] = [];

async function timeToInteractive(url: string): Promise<number[]> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  try {
    const out: number[] = [];
    for (let i = 0; i < PAGE_LOADS; i++) {
      const page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
      await page.goto(url);
      await page.waitForSelector("body[data-ready]", { timeout: 30_000 });
      const marks = await page.evaluate(() =>
        ["spore-graph-loaded", "spore-graph-added", "spore-graph-laid-out", "spore-ready"].map((
          name,
        ) => performance.getEntriesByName(name)[0]?.startTime ?? NaN)
      );
      out.push(marks[3]!);
      phases.push(marks);
      if (screenshot && i === 0) {
        const outDir = join(import.meta.dirname ?? ".", "..", "..", "test-output");
        await Deno.mkdir(outDir, { recursive: true });
        await page.screenshot({ path: join(outDir, "explorer-bench.png") });
      }
      await page.close();
    }
    return out;
  } finally {
    await browser.close();
  }
}

const dir = await Deno.makeTempDir({ prefix: "spore-bench-explorer-" });
const stores = openStores(join(dir, "data"));
try {
  const secs = seed(stores, N);
  const stats = stores.graph.stats();
  console.log(
    `explorer.setup  ${N} experiments stored in ${secs.toFixed(1)} s ` +
      `(frontier ${stats.frontierSize}, ${stats.nodes} nodes)`,
  );
  const ex = await startExplorer(benchNode(stores), { host: "127.0.0.1", port: 0 });
  try {
    const targets: [string, string][] = [
      ["graph", "api/graph"],
      ["graph_summary", "api/graph?fields=summary"],
      ["frontier", "api/frontier"],
      ["recent", "api/recent"],
      ["stat", "api/stat"],
    ];
    for (const [name, path] of targets) {
      const r = await latency(ex.url + path);
      console.log(
        `explorer.${name}_p95  ${r.p95.toFixed(1)} ms  (p50 ${r.p50.toFixed(1)} ms, ` +
          `${(r.bytes / 1024).toFixed(0)} KiB, n=${REQUESTS}, target < 100 ms)`,
      );
    }
    await timeToInteractiveReport(ex.url);
    const grow = seed(stores, PROGRESS_N, N);
    console.log(`explorer.setup  grown to ${PROGRESS_N} experiments in ${grow.toFixed(1)} s`);
    for (
      const [name, path] of [["all", "api/progress"], [
        "h100",
        `api/progress?gpu=${encodeURIComponent(GPUS[0]!)}`,
      ]]
    ) {
      const t0 = performance.now();
      let requests = 0;
      let body: { complete: boolean; points: unknown[] };
      do {
        body = await (await fetch(ex.url + path)).json();
        requests++;
      } while (!body.complete);
      const cold = performance.now() - t0;
      const r = await latency(ex.url + path);
      console.log(
        `explorer.progress_${name}_p95  ${r.p95.toFixed(1)} ms  (p50 ${r.p50.toFixed(1)} ms, ` +
          `${body.points.length} points, ${(r.bytes / 1024).toFixed(0)} KiB, n=${REQUESTS}, ` +
          `${PROGRESS_N} records, target < 100 ms; cold: ${requests} requests ` +
          `${(cold / 1000).toFixed(2)} s to read the graph into the series)`,
      );
    }
  } finally {
    await ex.close();
  }
} finally {
  stores.close();
  await Deno.remove(dir, { recursive: true });
}

async function timeToInteractiveReport(url: string): Promise<void> {
  try {
    Deno.statSync(CHROMIUM);
    const tti = (await timeToInteractive(url)).sort((a, b) => a - b);
    console.log(
      `explorer.time_to_interactive  ${(quantile(tti, 0.5) / 1000).toFixed(2)} s median, ` +
        `${(tti[tti.length - 1]! / 1000).toFixed(2)} s max (n=${tti.length}, target < 3 s)`,
    );
    const med = (i: number) =>
      (quantile(phases.map((p) => p[i]!).sort((a, b) => a - b), 0.5) / 1000).toFixed(2);
    console.log(
      `explorer.tti_phases  graph fetched ${med(0)} s, added ${med(1)} s, ` +
        `laid out ${med(2)} s, ready ${med(3)} s (medians, from navigation start)`,
    );
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      console.log(`explorer.time_to_interactive  skipped: ${CHROMIUM} not found`);
    } else {
      // Reported, not fatal: the progress figures below are still worth having.
      console.log(`explorer.time_to_interactive  FAILED: ${(err as Error).message.split("\n")[0]}`);
    }
  }
}
