/**
 * Wire-level data types shared by every part of the node (PROTOCOL.md sections 3, 4, 6, 8).
 *
 * These are plain data shapes; validation lives in `record.ts`, `profile.ts` and `messages.ts`.
 * @module
 */

/** Outcome of one experiment run. */
export type ExperimentStatus = "keep" | "discard" | "crash";

/** The list of valid statuses, for validation and CLI choices. */
export const EXPERIMENT_STATUSES: readonly ExperimentStatus[] = ["keep", "discard", "crash"];

/** Signed experiment record exactly as it travels on the wire (PROTOCOL.md section 3). */
export interface ExperimentRecord {
  id: string;
  version: number;
  parent: string | null;
  depth: number;
  code_cid: string;
  diff: string;
  dataset_cid: string;
  prepare_cid: string;
  time_budget: number;
  val_bpb: number;
  peak_vram_mb: number;
  num_steps: number;
  num_params: number;
  status: ExperimentStatus;
  description: string;
  hypothesis: string;
  agent_model: string;
  gpu_model: string;
  cuda_version: string;
  torch_version: string;
  node_id: string;
  timestamp: number;
  signature: string;
}

/** The signed part of a record: everything but `id` and `signature`. */
export type ExperimentPayload = Omit<ExperimentRecord, "id" | "signature">;

/** Signed node profile (PROTOCOL.md section 4). */
export interface NodeProfile {
  id: string;
  node_id: string;
  display_name: string;
  bio: string;
  website: string;
  avatar_url: string;
  donation_address: string;
  timestamp: number;
  signature: string;
  schema_version: number;
}

/** The signed part of a profile. */
export type ProfilePayload = Omit<NodeProfile, "id" | "signature">;

/** Control event types (PROTOCOL.md section 6). */
export type ControlType = "challenge" | "challenge_response" | "verification" | "dispute";

/** The list of control event types. */
export const CONTROL_TYPES: readonly ControlType[] = [
  "challenge",
  "challenge_response",
  "verification",
  "dispute",
];

/** Fields shared by every control payload, including our signing extension (section 8). */
export interface ControlBase {
  event_id: string;
  experiment_id: string;
  /** EXTENSION: node_id of the signer (the acting node). */
  signer?: string;
  /** EXTENSION: Ed25519 signature over the canonical payload without `sig`. */
  sig?: string;
  /** Python peers tolerate extra keys in control payloads. */
  [extra: string]: unknown;
}

/** `challenge` payload. */
export interface ChallengePayload extends ControlBase {
  challenger_id: string;
  challenger_bpb: number;
  challenger_gpu: string;
}

/** `challenge_response` payload. */
export interface ChallengeResponsePayload extends ControlBase {
  challenger_id: string;
  verifier_id: string;
  verifier_bpb: number;
  verifier_gpu: string;
}

/** `verification` payload. */
export interface VerificationPayload extends ControlBase {
  verified_node_id: string;
  verifier_id: string;
  verifier_gpu: string;
  verifier_bpb: number;
  is_frontier: boolean;
}

/** `dispute` payload. */
export interface DisputePayload extends ControlBase {
  original_node_id: string;
  challenger_id: string;
  challenger_bpb: number;
  outcome: "upheld" | "rejected";
  ground_truth_bpb: number;
  verifier_count: number;
}

/** A control event of any type, tagged by its wire `type`. */
export type ControlEvent =
  | { type: "challenge"; payload: ChallengePayload }
  | { type: "challenge_response"; payload: ChallengeResponsePayload }
  | { type: "verification"; payload: VerificationPayload }
  | { type: "dispute"; payload: DisputePayload };

/** Outcome of validating untrusted input: the typed value, or a human-readable reason. */
export type Validated<T> = { ok: true; value: T } | { ok: false; reason: string };
