/**
 * Turning a training outcome into a signed experiment record, and the unified diff it carries.
 * @module
 */
import { createTwoFilesPatch } from "diff";
import type { KeyPair } from "../protocol/crypto.ts";
import { sha256Hex } from "../protocol/hash.ts";
import { signRecord } from "../protocol/record.ts";
import type { ExperimentRecord, ExperimentStatus } from "../protocol/types.ts";
import type { TrainEnvironment, TrainOutcome } from "../node_types.ts";
import { cleanLine, MAX_DESCRIPTION, MAX_HYPOTHESIS } from "./extract.ts";

/** Unified diff of the parent's code to the child's ("" when identical or for a baseline). */
export function unifiedDiff(parentCode: string, code: string): string {
  if (parentCode === code) return "";
  return createTwoFilesPatch("a/train.py", "b/train.py", parentCode, code, "", "", { context: 3 });
}

/** What a record is made of besides the outcome. */
export interface RecordInput {
  parent: ExperimentRecord | null;
  code: string;
  parentCode: string;
  description: string;
  hypothesis: string;
  agentModel: string;
  env: TrainEnvironment;
  workspace: { datasetCid: string; prepareCid: string };
  timeBudget: number;
  outcome: TrainOutcome;
  keys: KeyPair;
  /** Unix seconds. */
  timestamp: number;
}

/** The usable val_bpb of an outcome, undefined for a crash (including a non-finite value). */
export function outcomeBpb(outcome: TrainOutcome): number | undefined {
  const v = outcome.val_bpb;
  return outcome.ok && typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function finiteOr0(v: number | undefined): number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0;
}

/**
 * Build and sign the record: `keep` when val_bpb beats the parent's (a baseline is always
 * kept), `discard` when not, `crash` when the run produced no val_bpb.
 */
export function buildRecord(
  input: RecordInput,
): { record: ExperimentRecord; codeBytes: Uint8Array } {
  const codeBytes = new TextEncoder().encode(input.code);
  const bpb = outcomeBpb(input.outcome);
  const status: ExperimentStatus = bpb === undefined
    ? "crash"
    : input.parent === null || bpb < input.parent.val_bpb
    ? "keep"
    : "discard";
  const crashNote = status === "crash"
    ? ` [crash: ${cleanLine(input.outcome.crashReason ?? "no val_bpb", 120)}]`
    : "";
  const record = signRecord({
    version: 1,
    parent: input.parent?.id ?? null,
    depth: input.parent ? input.parent.depth + 1 : 0,
    code_cid: sha256Hex(codeBytes),
    diff: input.parent ? unifiedDiff(input.parentCode, input.code) : "",
    dataset_cid: input.workspace.datasetCid,
    prepare_cid: input.workspace.prepareCid,
    time_budget: Math.max(0, Math.round(input.timeBudget)),
    val_bpb: bpb ?? 0,
    peak_vram_mb: finiteOr0(input.outcome.peak_vram_mb),
    num_steps: Math.round(finiteOr0(input.outcome.num_steps)),
    num_params: Math.round(finiteOr0(input.outcome.num_params)),
    status,
    // The crash reason is kept whole: it is what tells the next proposer what went wrong.
    description: cleanLine(input.description, MAX_DESCRIPTION - crashNote.length) + crashNote,
    hypothesis: cleanLine(input.hypothesis, MAX_HYPOTHESIS),
    agent_model: input.agentModel,
    gpu_model: input.env.gpuModel,
    cuda_version: input.env.cudaVersion,
    torch_version: input.env.torchVersion,
    node_id: input.keys.nodeId,
    timestamp: input.timestamp,
  }, input.keys.seed);
  return { record, codeBytes };
}
