/**
 * Artifact-fetch benchmark: a fresh node syncs 10,000 records from a Python-like peer (no
 * `hello`; answers `code_request` only for files it holds, silence otherwise) that holds the code
 * of every other record, so half the fetches can only end by timing out. Timed: from the peer's
 * connection until every available artifact is stored, with the default (public network) timing.
 *
 * Run: deno run -A scripts/bench/artifacts.ts [--quick] [--cap SECONDS]
 *   --quick: 2,000 records; --cap: stop waiting after this long (default 300 s) and report how
 *   many available artifacts were stored by then.
 * @module
 */
import { cpuUsage } from "node:process";
import { SporeNode } from "../../src/node.ts";
import { generateKeyPair } from "../../src/protocol/mod.ts";
import { makeRecords, vectorKey } from "../../tests/net/helpers.ts";
import { codeFiles, PythonLikePeer } from "../../tests/net/python_like.ts";

const quick = Deno.args.includes("--quick");
const capArg = Deno.args.indexOf("--cap");
const capS = capArg >= 0 ? Number(Deno.args[capArg + 1]) : 300;
const N = quick ? 2_000 : 10_000;
/** A real train.py is 20-30 KB; 8 KB keeps the bench's own transfer cost small on a shared box. */
const FILE_BYTES = 8 * 1024;

const files = codeFiles(N, FILE_BYTES, "bench");
const records = makeRecords(N, vectorKey(7), { tag: "art", codeCids: files.map(([c]) => c) });
// The peer holds the code of every even record: misses are interleaved with hits.
const held = new Map(files.filter((_, i) => i % 2 === 0));
const dir = await Deno.makeTempDir({ prefix: "spore-bench-art-" });
const node = await SporeNode.start({
  dataDir: dir,
  keys: generateKeyPair(),
  host: "127.0.0.1",
  port: 0,
  peers: [],
  bootstrap: [],
  knownPeers: [],
  maxPeers: 16,
  publishPeers: false,
});
const cpu0 = cpuUsage();
const t0 = performance.now();
const peer = await PythonLikePeer.connect(node.port, { records, code: held });
const want = [...held.keys()];
let missing = want;
let stored = 0;
let syncedAt = 0;
let done = false;
try {
  const end = t0 + capS * 1000;
  while (performance.now() < end) {
    if (!syncedAt && node.stores.graph.count() >= N) syncedAt = performance.now();
    const still: string[] = [];
    for (const cid of missing) if (!await node.stores.artifacts.has(cid)) still.push(cid);
    missing = still;
    stored = want.length - missing.length;
    if (missing.length === 0) {
      done = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
} finally {
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  const cpu = cpuUsage(cpu0);
  const cpuS = ((cpu.user + cpu.system) / 1e6).toFixed(1);
  console.log(
    `artifacts: ${N} records synced in ${
      syncedAt ? ((syncedAt - t0) / 1000).toFixed(1) + " s" : "(not all)"
    }; ${stored}/${want.length} available artifacts stored ${
      done ? "after" : "when the cap hit, at"
    } ${s} s (process CPU ${cpuS} s; code requests seen by the peer: ${peer.asked.length})`,
  );
  await peer.close();
  await node.close();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
