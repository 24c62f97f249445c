/** Shared fixtures for the store tests: temp dirs, signed synthetic records, a seeded PRNG. */
import {
  type ExperimentPayload,
  type ExperimentRecord,
  type ExperimentStatus,
  hexToBytes,
  keyPairFromSeed,
  signRecord,
} from "../../src/protocol/mod.ts";
import { vectors } from "../protocol/vectors.ts";

/** Seeds of the vector keys, so synthetic records carry real signatures. */
export const SEEDS: Uint8Array[] = vectors.keys.map((k) => hexToBytes(k.seed_hex));

/** Node ids matching {@link SEEDS}. */
export const NODE_IDS: string[] = SEEDS.map((s) => keyPairFromSeed(s).nodeId);

/** Valid vector records as they came over the wire. */
export const VECTOR_RECORDS: ExperimentRecord[] = vectors.records
  .filter((r) => r.valid)
  .map((r) => r.wire);

/** Run `fn` with a fresh temp dir that is removed afterwards. */
export async function withTempDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spore-store-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Fields a test may set on a synthetic record. */
export interface RecordSpec {
  parent?: string | null;
  status?: ExperimentStatus;
  val_bpb?: number;
  gpu_model?: string;
  timestamp?: number;
  description?: string;
  hypothesis?: string;
  key?: number;
  depth?: number;
  dataset_cid?: string;
  prepare_cid?: string;
}

let counter = 0;

/** A signed record with sensible defaults; each call differs (unique description suffix). */
export function makeRecord(spec: RecordSpec = {}): ExperimentRecord {
  const key = spec.key ?? 0;
  counter++;
  const payload: ExperimentPayload = {
    version: 1,
    parent: spec.parent ?? null,
    depth: spec.depth ?? 0,
    code_cid: "0".repeat(64),
    diff: "",
    dataset_cid: spec.dataset_cid ?? "climbmix-400b-shuffle",
    prepare_cid: spec.prepare_cid ?? "ab".repeat(32),
    time_budget: 300,
    val_bpb: spec.val_bpb ?? 1.0,
    peak_vram_mb: 1024.5,
    num_steps: 10,
    num_params: 1000,
    status: spec.status ?? "keep",
    description: spec.description ?? `synthetic ${counter}`,
    hypothesis: spec.hypothesis ?? "",
    agent_model: "test",
    gpu_model: spec.gpu_model ?? "H100",
    cuda_version: "12.8",
    torch_version: "2.9.0",
    node_id: NODE_IDS[key]!,
    timestamp: spec.timestamp ?? 1_773_000_000 + counter,
  };
  return signRecord(payload, SEEDS[key]!);
}

/** The frontier by its definition, computed from scratch (PROTOCOL.md section 7). */
export function bruteFrontier(recs: readonly ExperimentRecord[]): string[] {
  const onFrontier = recs.filter((r) =>
    r.status === "keep" &&
    !recs.some((c) => c.parent === r.id && c.status === "keep" && c.val_bpb < r.val_bpb)
  );
  return onFrontier
    .sort((a, b) => a.val_bpb - b.val_bpb || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((r) => r.id);
}

/** Fisher-Yates shuffle with the given PRNG (returns a new array). */
export function shuffled<T>(xs: readonly T[], rand: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Deterministic PRNG (mulberry32) so randomized tests replay identically. */
export { seededRandom as prng } from "../../src/research/mutator.ts";
