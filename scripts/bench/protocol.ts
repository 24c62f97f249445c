/**
 * Protocol hot-path benchmark: records canonicalized + hashed + signature-verified per second on
 * one core (issue target >= 15,000/s), with pure-JS verification for comparison.
 *
 * Run: deno run -A scripts/bench/protocol.ts [--quick]
 */
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

const quick = Deno.args.includes("--quick");
const N = quick ? 2_000 : 20_000;
const keys = Array.from({ length: 8 }, generateKeyPair);

function payload(i: number): ExperimentPayload {
  const k = keys[i % keys.length];
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
for (let i = 0; i < N; i++) records.push(signRecord(payload(i), keys[i % keys.length].seed));

function rate(label: string, count: number, ms: number, unit = "records/s"): void {
  console.log(
    `${label.padEnd(34)} ${Math.round(count / (ms / 1000)).toString().padStart(9)} ${unit}`,
  );
}

let t = performance.now();
for (const r of records) sha256Hex(canonicalRecord(r));
rate("protocol.canonical+hash", N, performance.now() - t);

// Verification pipelined the way the network ingests: a window of records in flight.
t = performance.now();
const WINDOW = 256;
let bad = 0;
for (let i = 0; i < N; i += WINDOW) {
  const results = await Promise.all(records.slice(i, i + WINDOW).map((r) => validateRecord(r)));
  bad += results.filter((r) => !r.ok).length;
}
if (bad) throw new Error(`${bad} records failed validation`);
rate("protocol.validate (webcrypto)", N, performance.now() - t);

const enc = new TextEncoder();
const M = Math.min(N, 2_000);
t = performance.now();
for (const r of records.slice(0, M)) {
  if (!verifyHexSync(enc.encode(canonicalRecord(r)), r.signature, r.node_id)) {
    throw new Error("bad");
  }
}
rate("protocol.validate (noble, pure JS)", M, performance.now() - t);
