/**
 * Store benchmark: graph inserts per second in batches of 1,000, of the node's ingest batch
 * (`DEFAULT_BATCH`) and of 10,000, each into an empty graph; then the graph grown in ingest
 * batches with `frontier()` / `stats()` latency at two sizes. Prints one line per figure:
 * `<name>  <value> <unit>`.
 *
 * The store runs with its defaults: WAL checkpoints on a worker thread after bulk writes, so
 * `_per_cpu_s` counts that thread too. `store.insert_batch_<DEFAULT_BATCH>_inline_checkpoint`
 * is the node's configuration below 4 cores, where the writing thread checkpoints itself.
 *
 * Usage: deno run -A scripts/bench/store.ts [--quick]
 *   full:    insert rates over 100,000 records (median of 3 runs each); latency at 100,000
 *            and 1,000,000 rows
 *   --quick: insert rate over 10,000 records; latency at 10,000 and 50,000 rows
 *
 * Records are synthetic and shape-valid but unsigned (ids are hashes of a counter): the store
 * does not verify signatures, so signing them would only slow the setup. The graph is shaped like
 * a research run: parents are mostly current frontier records, keeps improve on their parent,
 * and a few keeps fork from an older record, so the frontier grows slowly.
 * @module
 */
import { join } from "node:path";
import { cpuUsage } from "node:process";
import { type ExperimentRecord, type ExperimentStatus, sha256Hex } from "../../src/protocol/mod.ts";
import { GraphStore } from "../../src/store/mod.ts";
import { seededRandom as prng } from "../../src/research/mutator.ts";
import { DEFAULT_BATCH } from "../../src/net/ingest.ts";

/** One insert figure: batch size and where WAL checkpoints run. */
interface InsertCase {
  name: string;
  size: number;
  backgroundCheckpoint: boolean;
}

/** The classic 1,000, the node's ingest batch (also checkpointing inline), and 10,000. */
const CASES: InsertCase[] = [
  ...[1_000, DEFAULT_BATCH, 10_000].map((size) => ({
    name: `store.insert_batch_${size}`,
    size,
    backgroundCheckpoint: true,
  })),
  {
    name: `store.insert_batch_${DEFAULT_BATCH}_inline_checkpoint`,
    size: DEFAULT_BATCH,
    backgroundCheckpoint: false,
  },
];
/** Runs of each insert figure (full mode); each line is their median. */
const INSERT_TRIALS = 3;
const RUNS = 15;
const NODES = Array.from({ length: 40 }, (_, i) => sha256Hex(`node ${i}`));
const GPUS = ["NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 4090", "RTX 3060", "Apple MPS", "cpu"];
const SIGNATURE = "5".repeat(128);

/** Produces a plausible research graph, record by record. */
class Generator {
  #n = 0;
  #rand = prng(42);
  /** Approximate frontier the generator picks parents from (id, val_bpb). */
  #tips: { id: string; bpb: number }[] = [];
  #keeps: { id: string; bpb: number }[] = [];

  next(): ExperimentRecord {
    const rand = this.#rand;
    const i = this.#n++;
    let parent: { id: string; bpb: number } | null = null;
    let tipIndex = -1;
    if (this.#tips.length > 0 && rand() > 0.001) {
      if (rand() < 0.02 && this.#keeps.length > 0) {
        parent = this.#keeps[Math.floor(rand() * this.#keeps.length)]!;
      } else {
        tipIndex = Math.floor(rand() * this.#tips.length);
        parent = this.#tips[tipIndex]!;
      }
    }
    const r = rand();
    const status: ExperimentStatus = r < 0.25 ? "keep" : r < 0.9 ? "discard" : "crash";
    const base = parent?.bpb ?? 1.2;
    const bpb = status === "keep" ? base - rand() * 0.001 : base + rand() * 0.01;
    const rec: ExperimentRecord = {
      id: sha256Hex(`record ${i}`),
      version: 1,
      parent: parent?.id ?? null,
      depth: 0,
      code_cid: sha256Hex(`code ${i}`),
      diff: "--- train.py\n+++ train.py\n@@ -1 +1 @@\n-LR = 0.04\n+LR = 0.03\n",
      dataset_cid: "climbmix-400b-shuffle",
      prepare_cid: "ab".repeat(32),
      time_budget: 300,
      val_bpb: bpb,
      peak_vram_mb: 40_000 + rand() * 1000,
      num_steps: 900 + Math.floor(rand() * 100),
      num_params: 50_331_648,
      status,
      description: `try change ${i}`,
      hypothesis: "a smaller learning rate converges better in five minutes",
      agent_model: "bench",
      gpu_model: GPUS[i % GPUS.length]!,
      cuda_version: "12.8",
      torch_version: "2.9.0",
      node_id: NODES[i % NODES.length]!,
      timestamp: 1_773_000_000 + i,
      signature: SIGNATURE,
    };
    if (status === "keep") {
      const tip = { id: rec.id, bpb };
      this.#keeps.push(tip);
      if (tipIndex >= 0) this.#tips[tipIndex] = tip;
      else this.#tips.push(tip);
    }
    return rec;
  }

  batch(n: number): ExperimentRecord[] {
    return Array.from({ length: n }, () => this.next());
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeMedian(fn: () => unknown): number {
  fn(); // warm the page cache and statement
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    fn();
    runs.push(performance.now() - t0);
  }
  return median(runs);
}

function line(name: string, value: number, unit: string): void {
  const v = value >= 100 ? Math.round(value).toString() : value.toFixed(2);
  console.log(`${name.padEnd(52)} ${v} ${unit}`);
}

/**
 * Insert `n` records in batches; returns records per second over the insert calls only, by
 * wall clock and by this process's CPU time (the two differ when other work shares the cores).
 */
function insertRate(
  graph: GraphStore,
  gen: Generator,
  n: number,
  size: number,
): { wall: number; cpu: number } {
  let wallMs = 0;
  let cpuUs = 0;
  for (let done = 0; done < n; done += size) {
    const batch = gen.batch(Math.min(size, n - done));
    const c0 = cpuUsage();
    const t0 = performance.now();
    graph.insertMany(batch);
    wallMs += performance.now() - t0;
    const c = cpuUsage(c0);
    cpuUs += c.user + c.system;
  }
  return { wall: n / (wallMs / 1000), cpu: n / (cpuUs / 1e6) };
}

function rateLines(name: string, rate: { wall: number; cpu: number }): void {
  line(name, rate.wall, "records/s");
  line(`${name}_per_cpu_s`, rate.cpu, "records/cpu-s");
}

async function main(): Promise<void> {
  const quick = Deno.args.includes("--quick");
  const insertN = quick ? 10_000 : 100_000;
  const sizes = quick ? [10_000, 50_000] : [100_000, 1_000_000];
  const dir = await Deno.makeTempDir({ prefix: "spore-bench-store-" });
  try {
    // Trials interleave the cases, so a slow spell of the machine hits them alike.
    const trials = new Map<InsertCase, { wall: number; cpu: number }[]>(
      CASES.map((c) => [c, []]),
    );
    for (let t = 0; t < (quick ? 1 : INSERT_TRIALS); t++) {
      for (const c of CASES) {
        const path = join(dir, `insert-${t}.sqlite`);
        const graph = GraphStore.open(path, { backgroundCheckpoint: c.backgroundCheckpoint });
        trials.get(c)!.push(insertRate(graph, new Generator(), insertN, c.size));
        graph.close();
        await Deno.remove(path);
      }
    }
    for (const [c, rates] of trials) {
      rateLines(c.name, {
        wall: median(rates.map((r) => r.wall)),
        cpu: median(rates.map((r) => r.cpu)),
      });
    }
    const graph = GraphStore.open(join(dir, "graph.sqlite"));
    const gen = new Generator();
    let rows = 0;
    for (const size of sizes) {
      const rate = insertRate(graph, gen, size - rows, DEFAULT_BATCH);
      rows = size;
      const label = size >= 1_000_000 ? `${size / 1_000_000}m` : `${size / 1000}k`;
      rateLines(`store.insert_batch_to_${label}`, rate);
      const frontierSize = graph.stats().frontierSize;
      line(`store.frontier_size_${label}`, frontierSize, "records");
      line(`store.frontier_${label}`, timeMedian(() => graph.frontier()), "ms");
      line(
        `store.frontier_top100_${label}`,
        timeMedian(() => graph.frontier(undefined, 100)),
        "ms",
      );
      line(`store.frontier_h100_${label}`, timeMedian(() => graph.frontier("H100")), "ms");
      line(`store.stats_${label}`, timeMedian(() => graph.stats()), "ms");
    }
    graph.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
