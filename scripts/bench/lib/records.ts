/**
 * Signed experiment records for the network benches, as wire JSON (one per record), generated
 * once per count and cached in the temp dir: signing is the slow part.
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, sign } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bytesToHex,
  canonicalRecord,
  type ExperimentRecord,
  keyPairFromSeed,
  recordJson,
  sha256Hex,
} from "../../../src/protocol/mod.ts";

const encoder = new TextEncoder();

/** `n` signed records (chains of 50 under 8 signing keys) as wire JSON, cached between runs. */
export async function benchRecords(n: number): Promise<string[]> {
  const cache = join(tmpdir(), `spore-bench-net-${n}-v1.jsonl`);
  try {
    const lines = (await Deno.readTextFile(cache)).split("\n").filter((l) => l);
    if (lines.length === n) return lines;
  } catch { /* not cached yet */ }
  const t0 = performance.now();
  const out: string[] = [];
  const keys = Array.from({ length: 8 }, (_, k) => {
    const pair = keyPairFromSeed(Buffer.from(sha256Hex(`bench-key-${k}`), "hex"));
    const der = Buffer.from("302e020100300506032b657004220420" + bytesToHex(pair.seed), "hex");
    return { pair, key: createPrivateKey({ key: der, format: "der", type: "pkcs8" }) };
  });
  let parent: string | null = null;
  for (let i = 0; i < n; i++) {
    const k = keys[i % keys.length]!;
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
    `# generated ${n} signed records in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s (cached in ${cache})`,
  );
  return out;
}
