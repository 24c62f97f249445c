/**
 * Mesh benchmark: N sync-only node processes on loopback, each new node configured with up to 2
 * earlier nodes as peers and finding more through PEX; 2,000 signed records streamed into the
 * first node over one raw connection (as a Python peer would relay them). Per mesh size and
 * gossip mode it reports:
 *
 * - time from the first record sent until half the other nodes, and until all of them, hold
 *   every record (committed rows in each node's graph, polled from outside);
 * - body copies received per node per record: `spore_records_received_total` summed over every
 *   node's `/metrics`, less the records streamed in, divided by (N - 1) x records (1.0 is each
 *   record crossing into each node once);
 * - record ids announced, per node per record (`spore_announce_ids_received_total`; 0 when
 *   flooding);
 * - resident memory per node (median and largest) and CPU-seconds of all nodes together.
 *
 * Gossip modes: `announce` (the node's default between our nodes: ids first, bodies pulled) and
 * `flood` (config.toml `gossip = "flood"`: full bodies to every peer, as the Python node does),
 * for the side-by-side ratio.
 *
 * Run: deno run -A scripts/bench/mesh.ts [--quick] [--nodes 10,30] [--records 2000]
 *        [--warmup N] [--mode announce|flood|both] [--v8-flags=...] [--verbose]
 *   --quick: 10 nodes, 500 records, announce only. Defaults: 10 and 30 nodes, both modes.
 *   --warmup N: stream N other records first and measure the next stream: nodes that have been
 *   running (code compiled, caches filled) instead of processes seconds old.
 * The node processes share the machine's cores with each other (and on a shared machine with
 * everything else): the figures are for this machine, not per node.
 * @module
 */
import { join } from "node:path";
import { NODE_V8_FLAGS } from "../../src/ops/launch.ts";
import { benchRecords } from "./lib/records.ts";
import {
  cpuSeconds,
  freePort,
  nodeEntry,
  RowCounter,
  rssMb,
  startNode,
  stop,
  streamRecords,
  waitListening,
} from "./lib/nodes.ts";

const args = Deno.args;
const quick = args.includes("--quick");
/** Print each node's figures too. */
const verbose = args.includes("--verbose");
const nodeV8Flags = args.find((a) => a.startsWith("--v8-flags=")) ?? NODE_V8_FLAGS;

function option(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function wholeNumber(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`${name} takes whole numbers from ${min} to ${max}, got ${text}`);
  }
  return n;
}

const SIZES = (option("--nodes") ?? (quick ? "10" : "10,30")).split(",")
  .map((s) => wholeNumber("--nodes", s, 2, 200));
const RECORDS = wholeNumber("--records", option("--records") ?? (quick ? "500" : "2000"), 1, 1e6);
const modeArg = option("--mode") ?? (quick ? "announce" : "both");
if (!["announce", "flood", "both"].includes(modeArg)) {
  throw new Error("--mode takes announce, flood or both");
}
const MODES = modeArg === "both" ? ["announce", "flood"] : [modeArg];
/** A mesh that has not converged by then is reported as failed. */
const CONVERGE_TIMEOUT_MS = 300_000;

/** Deterministic choice of earlier peers, so every run (and mode) gets the same topology. */
function topology(n: number): number[][] {
  let seed = 0x5eed;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const out: number[][] = [[]];
  for (let i = 1; i < n; i++) {
    const peers = new Set([i - 1]);
    if (i >= 2) {
      let j: number;
      do j = Math.floor(random() * i); while (j === i - 1);
      peers.add(j);
    }
    out.push([...peers]);
  }
  return out;
}

/** Sum of a metric's samples in Prometheus text, optionally only those with `label` in them. */
function metric(text: string, name: string, label?: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || (line[name.length] !== " " && line[name.length] !== "{")) {
      continue;
    }
    if (label && !line.includes(label)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1)) || 0;
  }
  return sum;
}

async function scrape(webPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${webPort}/metrics`);
  return await res.text();
}

interface Node {
  dir: string;
  port: number;
  webPort: number;
  child: Deno.ChildProcess;
}

interface Result {
  nodes: number;
  mode: string;
  p50Ms: number;
  allMs: number;
  copies: number;
  duplicates: number;
  announced: number;
  requested: number;
  rssMedian: number;
  rssMax: number;
  cpu: number;
  /** CPU-seconds of all nodes from the first record sent until every node held all. */
  cpuConverged: number;
  peersMedian: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Every node's `/metrics` text once no body or announcement moved for `quietMs`. */
async function quiet(nodes: Node[], quietMs: number, timeoutMs: number): Promise<string[]> {
  const end = performance.now() + timeoutMs;
  let last = "";
  let since = performance.now();
  for (;;) {
    const texts = await Promise.all(nodes.map((n) => scrape(n.webPort)));
    // Bodies and announcements only: pings and sync marks never stop on a big mesh.
    const key = texts.map((t) =>
      `${metric(t, "spore_records_received_total")}/${
        metric(t, "spore_messages_out_total", 'type="experiment"')
      }/${metric(t, "spore_announce_ids_sent_total")}`
    ).join(",");
    if (key !== last) {
      last = key;
      since = performance.now();
    } else if (performance.now() - since >= quietMs || performance.now() > end) return texts;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Wait until every node's peer count has stayed the same for `quietMs` (PEX has settled). */
async function settle(nodes: Node[], quietMs: number, timeoutMs: number): Promise<number[]> {
  const end = performance.now() + timeoutMs;
  let last = "";
  let since = performance.now();
  for (;;) {
    const peers = await Promise.all(
      nodes.map((n) => scrape(n.webPort).then((t) => metric(t, "spore_peers")).catch(() => -1)),
    );
    const key = peers.join(",");
    if (key !== last) {
      last = key;
      since = performance.now();
    } else if (!peers.includes(-1) && performance.now() - since >= quietMs) return peers;
    if (performance.now() > end) return peers;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Wait for `p`, at most `ms` (a pending socket read does not always end when it is closed). */
async function settled(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise((r) => timer = setTimeout(r, ms))]);
  clearTimeout(timer);
}

/**
 * Stream `lines` into the first node and wait until every node holds them all; `done[i]` is
 * when node i did (ms after the first record was sent).
 */
async function converge(nodes: Node[], counters: RowCounter[], lines: string[], what: string) {
  const done: (number | undefined)[] = nodes.map(() => undefined);
  // Rows a node already had (none, unless something else reached it first) do not count.
  const want = counters.map((c) => c.count() + lines.length);
  const t0 = performance.now();
  const { conn, reader } = await streamRecords(nodes[0]!.port, lines);
  for (;;) {
    const now = performance.now();
    for (let i = 0; i < nodes.length; i++) {
      if (done[i] === undefined && counters[i]!.count() >= want[i]!) done[i] = now - t0;
    }
    if (done.every((d) => d !== undefined)) return { done, conn, reader };
    if (now - t0 > CONVERGE_TIMEOUT_MS) {
      const have = counters.map((c) => c.count());
      throw new Error(`${what} did not converge: rows per node ${have.join(",")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function mesh(
  n: number,
  mode: string,
  warm: string[],
  lines: string[],
  entry: string[],
  tmp: string,
) {
  const nodes: Node[] = [];
  try {
    const topo = topology(n);
    for (let i = 0; i < n; i++) {
      const dir = join(tmp, `${mode}-${n}-${i}`);
      await Deno.mkdir(dir, { recursive: true });
      const port = freePort();
      const webPort = freePort();
      await Deno.writeTextFile(
        join(dir, "config.toml"),
        `web_host = "127.0.0.1"\nweb_port = ${webPort}\n` +
          (mode === "flood" ? `gossip = "flood"\n` : ""),
      );
      const peers = topo[i]!.map((j) => `127.0.0.1:${nodes[j]!.port}`);
      const child = startNode(entry, {
        dataDir: dir,
        port,
        peers,
        explorer: true,
        stderr: verbose ? "inherit" : "null",
      });
      nodes.push({ dir, port, webPort, child });
    }
    for (const node of nodes) {
      await waitListening(node.port, 120_000);
      await waitListening(node.webPort, 120_000);
    }
    const peers = await settle(nodes, 3000, 60_000);
    const counters = nodes.map((x) => new RowCounter(x.dir));
    let base: string[] = nodes.map(() => "");
    if (warm.length) {
      // Warm-up: the same stream once before measuring, so the figures are those of running
      // nodes (code compiled, caches filled), not of processes seconds old.
      const w = await converge(nodes, counters, warm, `${n} nodes (${mode}) warm-up`);
      if (verbose) console.log(`  warm-up: every node holds ${warm.length} records`);
      w.conn.close();
      await settled(w.reader, 5000);
      base = await quiet(nodes, 3000, 120_000);
    }
    const cpu0 = nodes.map((x) => cpuSeconds(x.child.pid));
    const { done, conn, reader } = await converge(nodes, counters, lines, `${n} nodes (${mode})`);
    const cpuConverged = nodes.reduce((s, x, i) => s + cpuSeconds(x.child.pid) - cpu0[i]!, 0);
    for (const c of counters) c.close();
    // Relays and announcements still in flight after the last node converged are part of the
    // cost: count once every node's counters have stopped moving.
    const after = await quiet(nodes, 3000, 120_000);
    // Counters of this stream only (the warm-up's subtracted).
    const texts = after.map((t, i) => ({ t, b: base[i]! }));
    const one = (x: { t: string; b: string }, name: string, label?: string) =>
      metric(x.t, name, label) - metric(x.b, name, label);
    const sum = (name: string, label?: string) =>
      texts.reduce((s, x) => s + one(x, name, label), 0);
    if (verbose) {
      texts.forEach((x, i) =>
        console.log(
          `  node ${i}: all after ${((done[i] ?? 0) / 1000).toFixed(2)} s, peers ${
            metric(x.t, "spore_peers")
          }, received ${one(x, "spore_records_received_total")}, duplicates ${
            one(x, "spore_records_duplicate_total")
          }, bodies sent ${one(x, "spore_messages_out_total", 'type="experiment"')}, requested ${
            one(x, "spore_records_requested_total")
          }, timed out ${one(x, "spore_record_requests_timed_out_total")}, given up ${
            one(x, "spore_record_requests_given_up_total")
          }`,
        )
      );
      const byType = new Map<string, number>();
      for (const [i, x] of texts.entries()) {
        for (const [text, sign] of [[x.t, 1], [base[i]!, -1]] as const) {
          for (const line of text.split("\n")) {
            const m = /^spore_messages_(in|out)_total\{type="([a-z_]+)"\} (\d+)/.exec(line);
            if (m) {
              byType.set(
                `${m[1]} ${m[2]}`,
                (byType.get(`${m[1]} ${m[2]}`) ?? 0) + sign * Number(m[3]),
              );
            }
          }
        }
      }
      console.log(`  messages, all nodes: ${[...byType].map(([k, v]) => `${k} ${v}`).join(", ")}`);
    }
    const others = (n - 1) * lines.length;
    const rss = nodes.map((x) => rssMb(x.child.pid));
    const cpu = nodes.reduce((s, x, i) => s + cpuSeconds(x.child.pid) - cpu0[i]!, 0);
    conn.close();
    await settled(reader, 5000);
    const times = done.slice(1) as number[];
    return {
      nodes: n,
      mode,
      p50Ms: median(times),
      allMs: Math.max(...times),
      copies: (sum("spore_records_received_total") - lines.length) / others,
      duplicates: sum("spore_records_duplicate_total") / others,
      announced: sum("spore_announce_ids_received_total") / others,
      requested: sum("spore_records_requested_total") / others,
      rssMedian: median(rss),
      rssMax: Math.max(...rss),
      cpu,
      cpuConverged,
      peersMedian: median(peers),
    } satisfies Result;
  } finally {
    await Promise.all(nodes.map((x) => stop(x.child)));
    for (const x of nodes) await Deno.remove(x.dir, { recursive: true }).catch(() => {});
  }
}

function report(name: string, value: string, unit: string, note: string): void {
  console.log(`${name.padEnd(26)} ${value.padStart(8)} ${unit.padEnd(14)} (${note})`);
}

const WARMUP = wholeNumber("--warmup", option("--warmup") ?? "0", 0, 1e6);
const all = await benchRecords(RECORDS + WARMUP);
const warm = all.slice(0, WARMUP);
const lines = all.slice(WARMUP);
const tmp = await Deno.makeTempDir({ prefix: "spore-bench-mesh-" });
let failed = false;
try {
  const entry = await nodeEntry(tmp, nodeV8Flags);
  for (const n of SIZES) {
    const results: Result[] = [];
    for (const mode of MODES) {
      let r: Result;
      try {
        r = await mesh(n, mode, warm, lines, entry, tmp);
      } catch (e) {
        failed = true;
        console.log(`mesh.${n}.${mode} FAILED: ${(e as Error).message}`);
        continue;
      }
      results.push(r);
      const p = `mesh.${n}.${mode}`;
      const what = `${n} nodes, ${RECORDS} records into one${
        WARMUP ? ` after ${WARMUP} to warm up` : ""
      }, median ${r.peersMedian} peers`;
      report(`${p}.p50`, (r.p50Ms / 1000).toFixed(2), "s", `half the nodes hold all; ${what}`);
      report(`${p}.all`, (r.allMs / 1000).toFixed(2), "s", `every node holds all; ${what}`);
      report(
        `${p}.copies`,
        r.copies.toFixed(2),
        "/node/record",
        `bodies received from peers; ${r.duplicates.toFixed(2)} of them duplicates`,
      );
      report(
        `${p}.announced`,
        r.announced.toFixed(2),
        "/node/record",
        `ids announced to each node; ${r.requested.toFixed(2)} bodies requested`,
      );
      report(
        `${p}.rss`,
        r.rssMedian.toFixed(1),
        "MB",
        `median per node, largest ${r.rssMax.toFixed(1)} MB`,
      );
      report(
        `${p}.cpu`,
        r.cpu.toFixed(1),
        "CPU-s",
        `all nodes together, first record to quiet; ` +
          `${(r.cpu * 1e6 / (RECORDS * (n - 1))).toFixed(0)} us per record per node`,
      );
      report(
        `${p}.cpu_converged`,
        r.cpuConverged.toFixed(1),
        "CPU-s",
        `first record until every node held all; ` +
          `${(r.cpuConverged / (r.allMs / 1000)).toFixed(2)} cores busy meanwhile`,
      );
    }
    if (results.length === 2) {
      const [a, f] = results as [Result, Result]; // length checked above
      report(
        `mesh.${n}.ratio`,
        (f.allMs / a.allMs).toFixed(2),
        "x faster",
        `flood/announce time to all; copies ${(f.copies / a.copies).toFixed(1)}x fewer, ` +
          `CPU ${(f.cpu / a.cpu).toFixed(1)}x less`,
      );
    }
  }
} finally {
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
if (failed) Deno.exit(1);
