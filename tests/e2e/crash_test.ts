/**
 * Crash safety: a node process is killed with SIGKILL at random points while it ingests 20,000
 * records from a peer and while it publishes its own, 20 times. After every kill each database
 * passes `PRAGMA integrity_check`, and after every restart every acknowledged record is there
 * and the node keeps syncing.
 *
 * "Acknowledged" means:
 * - ingest: a record the node had committed to `db/graph.sqlite` when the test looked just
 *   before the kill (what `spore status` or a second process would have been told is stored);
 * - publish: a record whose `node.publish(record, code)` call had returned (the publisher prints
 *   its id only then), together with its code file.
 *
 * The feeding peer runs in this process; the victim is `main.ts run --no-train`, or for the
 * publish rounds a small script that holds the data-dir lock, starts a node on the same data dir
 * and publishes in a loop (what the research loop does after each experiment).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { makeRecords, startNode, type TestNode } from "../net/helpers.ts";
import { take } from "../tuple.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TOTAL = 20_000;
/** Records the peer adds live during each publish round (the rest are there from the start). */
const LIVE_PER_ROUND = 500;
const INGEST_ROUNDS = 14;
const PUBLISH_ROUNDS = 6;
const PRELOADED = TOTAL - LIVE_PER_ROUND * PUBLISH_ROUNDS;
/** The whole test must finish within this (2 cores, shared). */
const DEADLINE_MS = 170_000;

/** Deterministic pseudo-random numbers, so a failure can be replayed (seed printed on failure). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PUBLISHER = `
import { ensureIdentity } from "${ROOT}src/config.ts";
import { SporeNode } from "${ROOT}src/node.ts";
import { acquireDataDirLock } from "${ROOT}src/ops/lock.ts";
import { sha256Hex } from "${ROOT}src/protocol/mod.ts";
import { fastSignRecord } from "${ROOT}tests/net/helpers.ts";
const [dir, peer, tag] = Deno.args;
acquireDataDirLock(dir);
const { keys } = await ensureIdentity(dir);
const node = await SporeNode.start({
  dataDir: dir, keys, host: "127.0.0.1", port: 0, peers: [peer], bootstrap: [], knownPeers: [],
  maxPeers: 8,
});
const enc = new TextEncoder();
let parent = null;
for (let i = 0; ; i++) {
  const code = enc.encode("# " + tag + " run " + i + "\\nlr = " + i + "e-6\\n");
  const rec = fastSignRecord({
    version: 1, parent, depth: parent ? 1 : 0, code_cid: sha256Hex(code), diff: "", dataset_cid:
    "d".repeat(64), prepare_cid: "e".repeat(64), time_budget: 300, val_bpb: 1.5 - i / 1e6,
    peak_vram_mb: 1, num_steps: i, num_params: 1, status: i % 4 === 3 ? "discard" : "keep",
    description: tag + " " + i, hypothesis: "h", agent_model: "crash-test", gpu_model: "CPU",
    cuda_version: "", torch_version: "1.13", node_id: keys.nodeId,
    timestamp: 1_900_000_000 + i,
  }, keys);
  await node.publish(rec, code);
  console.log(rec.id + " " + rec.code_cid);
  parent = rec.id;
}
`;

function readIds(dir: string): Set<string> {
  const db = new DatabaseSync(join(dir, "db", "graph.sqlite"), { readOnly: true });
  try {
    return new Set(db.prepare("SELECT id FROM experiment").all().map((r) => String(r.id)));
  } finally {
    db.close();
  }
}

function countRows(dir: string): number {
  try {
    const db = new DatabaseSync(join(dir, "db", "graph.sqlite"), { readOnly: true });
    try {
      return Number(db.prepare("SELECT COUNT(*) AS n FROM experiment").get()?.n ?? 0);
    } finally {
      db.close();
    }
  } catch {
    return 0; // not created yet, or mid-creation
  }
}

/** Open every database of the data dir as the restarted node will, and check it. */
function checkIntegrity(dir: string): void {
  const files = [...Deno.readDirSync(join(dir, "db"))]
    .map((e) => e.name)
    .filter((n) => n.endsWith(".sqlite"));
  assert.ok(files.length >= 4, `databases: ${files}`);
  for (const name of files) {
    const db = new DatabaseSync(join(dir, "db", name));
    try {
      const rows = db.prepare("PRAGMA integrity_check").all();
      assert.deepEqual(rows.map((r) => r.integrity_check), ["ok"], name);
    } finally {
      db.close();
    }
  }
  // State files are replaced atomically: present means complete.
  for (const e of Deno.readDirSync(join(dir, "db"))) {
    if (e.name.endsWith(".json")) JSON.parse(Deno.readTextFileSync(join(dir, "db", e.name)));
  }
}

async function until(cond: () => boolean, what: string, deadline: number): Promise<void> {
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

/** A victim process, with its stdout lines and stderr collected as they come. */
class Victim {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  stderr = "";
  exited = false;
  readonly #done: Promise<void>;

  constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const dec = new TextDecoder();
    let partial = "";
    const out = this.child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write: (chunk) => {
          const parts = (partial + chunk).split("\n");
          partial = parts.pop()!;
          this.lines.push(...parts);
        },
      }),
    );
    const stderr = this.child.stderr;
    const err = (async () => {
      for await (const b of stderr) this.stderr += dec.decode(b, { stream: true });
    })();
    this.#done = Promise.all([out, err]).then(() => {});
    this.child.status.then(() => (this.exited = true));
  }

  /** True once the node runs on the data dir (it writes peers.json with its pid). */
  started(dir: string): boolean {
    if (this.exited) throw new Error(`the node exited early: ${this.stderr}`);
    try {
      return JSON.parse(Deno.readTextFileSync(join(dir, "peers.json"))).pid === this.child.pid;
    } catch {
      return false;
    }
  }

  /** SIGKILL and wait until every byte it wrote before dying is read. */
  async kill(): Promise<Deno.CommandStatus> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already exited */ }
    const status = await this.child.status;
    await this.#done;
    return status;
  }

  async stop(): Promise<Deno.CommandStatus> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already exited */ }
    const status = await this.child.status;
    await this.#done;
    return status;
  }
}

function runNodeArgs(dir: string, peer: string): string[] {
  return [
    "run",
    "-A",
    join(ROOT, "main.ts"),
    "run",
    "--no-train",
    "--no-explorer",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--peer",
    peer,
    "--data-dir",
    dir,
  ];
}

Deno.test("crash: SIGKILL during ingest and publish loses no acknowledged record", async () => {
  const seed = Number(Deno.env.get("SPORE_CRASH_SEED") ?? Date.now() % 1_000_000);
  const rand = rng(seed);
  const deadline = Date.now() + DEADLINE_MS;
  const tmp = await Deno.makeTempDir({ prefix: "spore-crash-" });
  const dir = join(tmp, "victim");
  const script = join(tmp, "publisher.ts");
  await Deno.writeTextFile(script, PUBLISHER);
  const records = makeRecords(TOTAL, undefined, { tag: "feed" });
  let feeder: TestNode | undefined;
  let victim: Victim | undefined;
  const acked = new Set<string>();
  const ackedCode = new Set<string>();
  const log: string[] = [];
  try {
    feeder = await startNode();
    feeder.node.stores.graph.insertMany(records.slice(0, PRELOADED));
    const peer = feeder.address;
    let fed = PRELOADED;

    const afterKill = (status: Deno.CommandStatus, round: number) => {
      assert.equal(status.signal, "SIGKILL", `round ${round} exited on its own: ${victim?.stderr}`);
      checkIntegrity(dir);
    };

    for (let round = 0; round < INGEST_ROUNDS; round++) {
      victim = new Victim(runNodeArgs(dir, peer));
      // Every acknowledged record is there once the restarted node holds the data dir.
      await until(() => victim!.started(dir), "the restarted node", deadline);
      const present = readIds(dir);
      for (const id of acked) assert.ok(present.has(id), `round ${round}: lost ${id}`);
      // Kill somewhere inside this round's share of the ingest (random, not on a boundary).
      const target = Math.min(
        PRELOADED - 1,
        Math.floor(PRELOADED * (round + rand()) / INGEST_ROUNDS),
      );
      await until(
        () => victim!.started(dir) && countRows(dir) >= target,
        `round ${round}: ${target} rows`,
        deadline,
      );
      for (const id of readIds(dir)) acked.add(id);
      afterKill(await victim.kill(), round);
      log.push(`ingest round ${round}: killed at ${acked.size} stored (target ${target})`);
    }

    for (let round = INGEST_ROUNDS; round < INGEST_ROUNDS + PUBLISH_ROUNDS; round++) {
      victim = new Victim([
        "run",
        "-A",
        "--config",
        join(ROOT, "deno.json"),
        script,
        dir,
        peer,
        `round-${round}`,
      ]);
      // The peer keeps feeding new records live while the node publishes.
      const live = records.slice(fed, fed + LIVE_PER_ROUND);
      fed += live.length;
      await until(
        () => victim!.started(dir) && victim!.lines.length > 0,
        `round ${round}: first publish`,
        deadline,
      );
      const present = readIds(dir);
      for (const id of acked) assert.ok(present.has(id), `round ${round}: lost ${id}`);
      for (const r of live) await feeder.node.publish(r);
      await new Promise((r) => setTimeout(r, 50 + rand() * 600));
      afterKill(await victim.kill(), round);
      let published = 0;
      for (const line of victim.lines) {
        const [id, cid] = take(line.split(" "), 2);
        acked.add(id);
        ackedCode.add(cid);
        published++;
      }
      for (const id of readIds(dir)) acked.add(id);
      log.push(`publish round ${round}: killed after ${published} acknowledged publishes`);
    }

    // A last, clean run: everything acknowledged is there, the node catches up with the whole
    // feed, and SIGTERM stops it with exit code 0.
    victim = new Victim(runNodeArgs(dir, peer));
    await until(() => victim!.started(dir), "the final restart", deadline);
    await until(
      () => victim!.started(dir) && records.every((r) => readIdsCached(dir).has(r.id)),
      "the full feed",
      deadline,
    );
    const present = readIds(dir);
    for (const id of acked) assert.ok(present.has(id), `final: lost ${id}`);
    for (const cid of ackedCode) {
      const path = join(dir, "artifact", cid.slice(0, 2), cid.slice(2, 4), cid);
      assert.ok(Deno.statSync(path).isFile, `final: lost code ${cid}`);
    }
    const status = await victim.stop();
    assert.equal(status.code, 0, victim.stderr);
    checkIntegrity(dir);
    log.push(`final: ${present.size} records, ${ackedCode.size} published code files`);
    console.log(log.join("\n"));
  } catch (e) {
    console.error(
      `crash test seed ${seed} (rerun with SPORE_CRASH_SEED=${seed})\n${log.join("\n")}`,
    );
    throw e;
  } finally {
    await victim?.kill();
    await feeder?.stop();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});

let cache: { at: number; ids: Set<string> } | undefined;
/** `readIds` at most every 250 ms (the final wait polls a 20,000-row table). */
function readIdsCached(dir: string): Set<string> {
  if (!cache || Date.now() - cache.at > 250) cache = { at: Date.now(), ids: readIds(dir) };
  return cache.ids;
}
