/**
 * Experiment records: canonical bytes, content id, signing and validation (PROTOCOL.md section 3).
 * @module
 */
import { canonicalJson } from "./canonical.ts";
import { checkFields, type FieldKind } from "./fields.ts";
import { isHex, sha256Hex } from "./hash.ts";
import { MAX_RECORD_BYTES, recordTextTooLong } from "./limits.ts";
import { canonicalPayload, checkIdAndSignature, signPayload } from "./signed.ts";
import {
  EXPERIMENT_STATUSES,
  type ExperimentPayload,
  type ExperimentRecord,
  type Validated,
} from "./types.ts";

/** Wire schema of a record, `id` and `signature` included. */
export const RECORD_SCHEMA: Readonly<Record<keyof ExperimentRecord, FieldKind>> = {
  id: "str",
  version: "int",
  parent: "str?",
  depth: "int",
  code_cid: "str",
  diff: "str",
  dataset_cid: "str",
  prepare_cid: "str",
  time_budget: "int",
  val_bpb: "float",
  peak_vram_mb: "float",
  num_steps: "int",
  num_params: "int",
  status: "str",
  description: "str",
  hypothesis: "str",
  agent_model: "str",
  gpu_model: "str",
  cuda_version: "str",
  torch_version: "str",
  node_id: "str",
  timestamp: "int",
  signature: "str",
};

/** Fields the schema types as floats (all other numbers are integers). */
export const RECORD_FLOAT_KEYS: ReadonlySet<string> = new Set(["val_bpb", "peak_vram_mb"]);

/** Canonical JSON text of a record's signed payload (`id` and `signature` are left out). */
export function canonicalRecord(p: ExperimentPayload | ExperimentRecord): string {
  return canonicalPayload(p, RECORD_FLOAT_KEYS);
}

/** Content id of a record: lowercase hex SHA-256 of its canonical bytes. */
export function recordId(p: ExperimentPayload | ExperimentRecord): string {
  return sha256Hex(canonicalRecord(p));
}

/**
 * JSON text of a full record for the wire. `JSON.stringify` would turn `-0.0` into `0` and
 * change the record's id, so floats are written the Python way.
 */
export function recordJson(rec: ExperimentRecord): string {
  return canonicalJson(rec, RECORD_FLOAT_KEYS);
}

/** Build the signed record of `payload` with the node key `seed`. */
export function signRecord(payload: ExperimentPayload, seed: Uint8Array): ExperimentRecord {
  return signPayload(payload, RECORD_FLOAT_KEYS, seed);
}

/**
 * Synchronous structural check: exact field set, JSON types, status, hex node id, text fields
 * within `RECORD_TEXT_LIMITS` (the canonical size limit is checked where the bytes are built).
 */
export function checkRecordShape(raw: unknown): Validated<ExperimentRecord> {
  const reason = checkFields(raw, RECORD_SCHEMA, "record");
  if (reason) return { ok: false, reason };
  const rec = raw as ExperimentRecord;
  if (!EXPERIMENT_STATUSES.includes(rec.status)) {
    return { ok: false, reason: `invalid status "${String(rec.status).slice(0, 32)}"` };
  }
  if (!isHex(rec.node_id, 32)) return { ok: false, reason: "node_id is not a 32-byte hex key" };
  if (!isHex(rec.id, 32)) return { ok: false, reason: "id is not a 32-byte hex digest" };
  if (rec.depth < 0) return { ok: false, reason: "depth must not be negative" };
  const tooLong = recordTextTooLong(rec as unknown as Record<string, unknown>);
  if (tooLong) return { ok: false, reason: tooLong };
  return { ok: true, value: rec };
}

/**
 * Full validation of an untrusted record: shape, content id, and Ed25519 signature by `node_id`.
 * The reason names the first failing rule.
 */
export async function validateRecord(raw: unknown): Promise<Validated<ExperimentRecord>> {
  const shape = checkRecordShape(raw);
  if (!shape.ok) return shape;
  const reason = await checkIdAndSignature(shape.value, RECORD_FLOAT_KEYS, MAX_RECORD_BYTES);
  return reason ? { ok: false, reason } : shape;
}
