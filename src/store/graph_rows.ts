/**
 * How experiment rows are read and written losslessly: the column list, array rows, and the
 * rule for when a record needs its canonical payload stored beside the typed columns.
 * @module
 */
import type { SQLInputValue, SQLOutputValue, StatementSync } from "node:sqlite";
import type { ExperimentPayload, ExperimentRecord, ExperimentStatus } from "../protocol/mod.ts";
import { StoreError } from "./errors.ts";
import { isLossyText } from "./sqlite.ts";

/** Text fields of a record, in wire order. */
export const TEXT_FIELDS = [
  "code_cid",
  "diff",
  "dataset_cid",
  "prepare_cid",
  "status",
  "description",
  "hypothesis",
  "agent_model",
  "gpu_model",
  "cuda_version",
  "torch_version",
  "node_id",
  "signature",
] as const;

/** A row of {@link RECORD_COLUMNS} read as an array (positions as listed), extras after it. */
export type RecordRow = readonly SQLOutputValue[];

/**
 * Columns of a record row and their positions in a {@link RecordRow}, listed in that order;
 * `canonical` (usually NULL) is last.
 */
export const COL = {
  id: 0,
  version: 1,
  parent: 2,
  depth: 3,
  code_cid: 4,
  diff: 5,
  dataset_cid: 6,
  prepare_cid: 7,
  time_budget: 8,
  val_bpb: 9,
  peak_vram_mb: 10,
  num_steps: 11,
  num_params: 12,
  status: 13,
  description: 14,
  hypothesis: 15,
  agent_model: 16,
  gpu_model: 17,
  cuda_version: 18,
  torch_version: 19,
  node_id: 20,
  timestamp: 21,
  signature: 22,
  canonical: 23,
} as const;

/** The columns of {@link COL} in order (keys keep their insertion order). */
export const RECORD_COLUMN_NAMES = Object.keys(COL) as readonly (keyof typeof COL)[];

/** {@link RECORD_COLUMN_NAMES} as a SELECT list. */
export const RECORD_COLUMNS = RECORD_COLUMN_NAMES.join(", ");

/** Position of the first column after {@link RECORD_COLUMNS} in a {@link RecordRow}. */
export const EXTRA = RECORD_COLUMN_NAMES.length;

/**
 * Statements returning record rows, read as arrays: about half the decode cost of one object
 * per row, which is most of a large frontier read.
 */
export const ARRAY_STATEMENTS = [
  "get",
  "children",
  "roots",
  "frontier",
  "frontierClass",
  "frontierResearch",
  "frontierResearchGpu",
  "frontierResearchAfter",
  "frontierResearchGpuAfter",
  "recent",
  "byNode",
  "search",
  "afterSeq",
  "sinceFirst",
  "sinceNext",
] as const;

/** Switch a statement to array rows. */
export function returnArrays(stmt: StatementSync): void {
  // Present in Deno's node:sqlite at runtime, missing from its bundled type declarations.
  const s = stmt as StatementSync & { setReturnArrays?: (enabled: boolean) => void };
  if (typeof s.setReturnArrays !== "function") {
    throw new StoreError("this Deno's node:sqlite lacks setReturnArrays; use Deno 2.9 or newer");
  }
  s.setReturnArrays(true);
}

/** All rows of an array-mode statement. */
export function rows(stmt: StatementSync, ...params: SQLInputValue[]): RecordRow[] {
  return stmt.all(...params) as unknown as RecordRow[];
}

/** True when the typed columns cannot give back this record's exact signed payload. */
export function needsCanonical(rec: ExperimentRecord): boolean {
  if (Object.is(rec.val_bpb, -0) || Object.is(rec.peak_vram_mb, -0)) return true;
  for (const f of TEXT_FIELDS) if (isLossyText(rec[f])) return true;
  return false;
}

/** The record plus every `-0.0` variant of its zero float fields. */
export function signVariants(rec: ExperimentRecord): ExperimentRecord[] {
  const vals = rec.val_bpb === 0 ? [0, -0] : [rec.val_bpb];
  const peaks = rec.peak_vram_mb === 0 ? [0, -0] : [rec.peak_vram_mb];
  return vals.flatMap((v) => peaks.map((p) => ({ ...rec, val_bpb: v, peak_vram_mb: p })));
}

/** Rebuild a wire record from a row of {@link RECORD_COLUMNS}. */
export function rowToRecord(row: RecordRow): ExperimentRecord {
  const canonical = row[COL.canonical];
  if (typeof canonical === "string") {
    const payload = JSON.parse(canonical) as ExperimentPayload;
    return { id: String(row[COL.id]), ...payload, signature: String(row[COL.signature]) };
  }
  const parent = row[COL.parent];
  return {
    id: String(row[COL.id]),
    version: Number(row[COL.version]),
    parent: parent === null ? null : String(parent),
    depth: Number(row[COL.depth]),
    code_cid: String(row[COL.code_cid]),
    diff: String(row[COL.diff]),
    dataset_cid: String(row[COL.dataset_cid]),
    prepare_cid: String(row[COL.prepare_cid]),
    time_budget: Number(row[COL.time_budget]),
    val_bpb: Number(row[COL.val_bpb]),
    peak_vram_mb: Number(row[COL.peak_vram_mb]),
    num_steps: Number(row[COL.num_steps]),
    num_params: Number(row[COL.num_params]),
    status: String(row[COL.status]) as ExperimentStatus,
    description: String(row[COL.description]),
    hypothesis: String(row[COL.hypothesis]),
    agent_model: String(row[COL.agent_model]),
    gpu_model: String(row[COL.gpu_model]),
    cuda_version: String(row[COL.cuda_version]),
    torch_version: String(row[COL.torch_version]),
    node_id: String(row[COL.node_id]),
    timestamp: Number(row[COL.timestamp]),
    signature: String(row[COL.signature]),
  };
}
