/**
 * Node processes for the network benches: how to start `spore run --no-train` on loopback, and
 * what to read from outside a running one (graph rows, CPU time, resident memory).
 * @module
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { encodeFrame, envelopeRaw } from "../../../src/protocol/mod.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

/**
 * The `deno` arguments that start the node CLI with `v8Flags` (e.g. `--v8-flags=...`; the bare
 * `--v8-flags=` means V8's defaults): main.ts once `run` is registered there, else a tiny entry
 * written to `tmp`.
 */
export async function nodeEntry(tmp: string, v8Flags: string): Promise<string[]> {
  const main = join(ROOT, "main.ts");
  const probe = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "run", "--help"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const flags = v8Flags === "--v8-flags=" ? [] : [v8Flags];
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

/**
 * A loopback port that was free a moment ago, below Linux's ephemeral range (32768-60999): a
 * port the OS hands out (port 0) can be taken by another node's outgoing connection before the
 * node meant to listen on it binds, and a 30-node mesh once lost a node that way.
 */
export function freePort(): number {
  for (let tries = 0; tries < 1000; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // taken: try another
    }
  }
  throw new Error("no free loopback port between 20000 and 32000");
}

/** Options of {@link startNode}. */
export interface NodeProcess {
  dataDir: string;
  port: number;
  /** Peers to dial; none starts a genesis node. */
  peers?: string[];
  /** Serve the explorer (and so `/metrics`) on `config.toml`'s web port; off by default. */
  explorer?: boolean;
  /** Where the node's stderr goes (default: inherited). */
  stderr?: "inherit" | "null";
}

/** Spawn a sync-only node process on 127.0.0.1. */
export function startNode(entry: string[], o: NodeProcess): Deno.ChildProcess {
  const peers = o.peers ?? [];
  return new Deno.Command(Deno.execPath(), {
    args: [
      ...entry,
      "run",
      "--no-train",
      ...(o.explorer ? [] : ["--no-explorer"]),
      "--host",
      "127.0.0.1",
      "--port",
      String(o.port),
      "--data-dir",
      o.dataDir,
      ...(peers.length ? peers.flatMap((p) => ["--peer", p]) : ["--genesis"]),
    ],
    stdout: "null",
    stderr: o.stderr ?? "inherit",
  }).spawn();
}

/** Committed rows in a node's graph, read from outside the process (WAL readers are fine). */
export function countRows(dataDir: string): number {
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

/**
 * Committed rows of one node's graph, polled often: the database stays open between reads (each
 * read is its own WAL snapshot), so polling 50 nodes costs the shared cores little.
 */
export class RowCounter {
  #db: DatabaseSync | undefined;
  constructor(readonly dataDir: string) {}

  count(): number {
    try {
      this.#db ??= new DatabaseSync(join(this.dataDir, "db", "graph.sqlite"), { readOnly: true });
      return Number(this.#db.prepare("SELECT COUNT(*) AS n FROM experiment").get()?.n ?? 0);
    } catch {
      this.close(); // not created yet: open again next time
      return 0;
    }
  }

  close(): void {
    try {
      this.#db?.close();
    } catch { /* already closed */ }
    this.#db = undefined;
  }
}

/** Resolve with the time (performance.now) `dataDir` holds `n` rows; throws after `timeoutMs`. */
export async function waitRows(dataDir: string, n: number, timeoutMs: number): Promise<number> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (countRows(dataDir) >= n) return performance.now();
    if (performance.now() > end) throw new Error(`timed out: ${countRows(dataDir)}/${n} rows`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Resolve once something accepts connections on `port`. */
export async function waitListening(port: number, timeoutMs = 30_000): Promise<void> {
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
export function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

/** Resident memory of a process in MB. */
export function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** SIGTERM a node and wait for it to exit. */
export async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  await child.status;
}

/**
 * Stream `lines` (record JSON) as `experiment` frames over one raw connection to `port`, as a
 * peer relaying them would (no `hello`: the node takes it for a Python peer). Returns the
 * connection, still open, and a promise that ends when its reader (discarding what the node
 * sends) does.
 */
export async function streamRecords(
  port: number,
  lines: string[],
): Promise<{ conn: Deno.TcpConn; reader: Promise<void> }> {
  const frames = lines.map((l) => encodeFrame(envelopeRaw("experiment", l)));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = (async () => {
    const buf = new Uint8Array(65536);
    try {
      while ((await conn.read(buf)) !== null) { /* discard hello, sync_request, gossip */ }
    } catch { /* closed */ }
  })();
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
  return { conn, reader };
}
