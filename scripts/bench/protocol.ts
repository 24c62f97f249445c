/**
 * Protocol hot-path benchmark: records canonicalized + hashed + signature-verified per second on
 * one core (issue target >= 15,000/s) with the node's validator (the verify worker's
 * `checkRecord`, synchronous, one thread); WebCrypto pipelined and pure-JS verification for
 * comparison. Every figure also gives records per CPU-second of the process: WebCrypto's async
 * verify runs on a thread pool, so its wall rate is not a one-core rate.
 *
 * Run: deno run -A scripts/bench/protocol.ts [--quick]
 */
import { cpuUsage } from "node:process";
import {
  canonicalRecord,
  type ExperimentPayload,
  type ExperimentRecord,
  generateKeyPair,
  signRecord,
  validateRecord,
  verifyHexSync,
} from "../../src/protocol/mod.ts";
import { sha256Hex } from "../../src/protocol/hash.ts";
import { checkRecord } from "../../src/net/record_check.ts";

const quick = Deno.args.includes("--quick");
const N = quick ? 2_000 : 20_000;
const keys = Array.from({ length: 8 }, generateKeyPair);

function payload(i: number): ExperimentPayload {
  const k = keys[i % keys.length]!;
  return {
    version: 1,
    parent: i === 0 ? null : sha256Hex(String(i - 1)),
    depth: i % 50,
    code_cid: sha256Hex(`code${i}`),
    diff: `--- train.py\n+++ train.py\n@@ -1 +1 @@\n-LR = 0.04\n+LR = 0.0${i % 9}\n`,
    dataset_cid: "climbmix-400b-shuffle",
    prepare_cid: sha256Hex("prepare"),
    time_budget: 300,
    val_bpb: 0.9 + (i % 1000) / 1e4,
    peak_vram_mb: 45060.2,
    num_steps: 953,
    num_params: 50331648,
    status: i % 3 === 0 ? "keep" : "discard",
    description: `experiment ${i}: try a smaller learning rate`,
    hypothesis: "lower LR reduces loss spikes",
    agent_model: "claude-sonnet-4-5",
    gpu_model: "H100",
    cuda_version: "12.8",
    torch_version: "2.9.0+cu128",
    node_id: k.nodeId,
    timestamp: 1773000000 + i,
  };
}

const records: ExperimentRecord[] = [];
for (let i = 0; i < N; i++) records.push(signRecord(payload(i), keys[i % keys.length]!.seed));

/** Time `fn` (which handles `count` records) by wall clock and by this process's CPU time. */
async function rate(label: string, count: number, fn: () => unknown): Promise<void> {
  const c0 = cpuUsage();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const c = cpuUsage(c0);
  const perCpu = count / ((c.user + c.system) / 1e6);
  console.log(
    `${label.padEnd(34)} ${Math.round(count / (ms / 1000)).toString().padStart(9)} records/s` +
      `  (${Math.round(perCpu)} per CPU-second)`,
  );
}

await rate("protocol.canonical+hash", N, () => {
  for (const r of records) sha256Hex(canonicalRecord(r));
});

await rate("protocol.validate (node, one thread)", N, () => {
  for (const r of records) {
    const reason = checkRecord(r);
    if (reason) throw new Error(`a record failed validation: ${reason}`);
  }
});

// WebCrypto pipelined the way an in-thread validator would ingest: a window in flight.
await rate("protocol.validate (webcrypto)", N, async () => {
  const WINDOW = 256;
  for (let i = 0; i < N; i += WINDOW) {
    const results = await Promise.all(records.slice(i, i + WINDOW).map((r) => validateRecord(r)));
    if (results.some((r) => !r.ok)) throw new Error("a record failed validation");
  }
});

const enc = new TextEncoder();
const M = Math.min(N, 2_000);
await rate("protocol.validate (noble, pure JS)", M, () => {
  for (const r of records.slice(0, M)) {
    if (!verifyHexSync(enc.encode(canonicalRecord(r)), r.signature, r.node_id)) {
      throw new Error("bad");
    }
  }
});
