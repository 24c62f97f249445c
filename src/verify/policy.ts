/**
 * Pure verification policy (PROTOCOL.md section 7): spot-check probability, dispute resolution
 * by median, and the reputation deltas each accepted control event carries. No I/O.
 *
 * Who wins and loses a dispute:
 * - `rejected` (the median contradicts the claim): the challenger wins (+1.0, `disputes_won`),
 *   the publisher loses (-5.0, `disputes_lost`).
 * - `upheld` (the median confirms the claim): the publisher wins (+1.0, `disputes_won`) and the
 *   challenger loses (-5.0, `disputes_lost`). A challenge costs up to three other nodes a full
 *   rerun, so a challenger whose own rerun is outvoted by the same-class majority pays the same
 *   price a dishonest publisher would; that makes griefing by false challenges expensive.
 *   Only the challenger can sign a dispute, so this relies on honest challengers sending an
 *   upheld outcome too; ours always do.
 * A publisher is penalized (or credited) at most once per experiment however many challengers
 * dispute it (see {@link publisherDisputeKey}), so a pile-on cannot multiply the -5.0.
 * @module
 */
import { normalizeGpuClass, toleranceFor } from "../protocol/mod.ts";
import type { ExperimentRecord, ExperimentStatus } from "../protocol/types.ts";
import type { ReputationDelta } from "../store/mod.ts";

/** Default base spot-check rate shared with the Python network. */
export const DEFAULT_SPOT_CHECK_RATE = 0.05;
/** Default seconds a challenger waits for responses (`SPORE_CHALLENGE_TIMEOUT`). */
export const DEFAULT_CHALLENGE_TIMEOUT_S = 1800;
/** Responses a challenger wants when enough independent verifiers exist. */
export const WANTED_RESPONSES = 3;

/** Reputation amounts (PROTOCOL.md section 7). */
export const DELTA = {
  verifiedKeep: 1.0,
  verifiedFrontierKeep: 2.0,
  verifiedDiscard: 0.3,
  verifiedCrash: 0.1,
  verificationPerformed: 0.5,
  disputeWon: 1.0,
  disputeLost: -5.0,
} as const;

/**
 * Probability of spot-checking a record: base, x3 when the publisher's score is negative else x2
 * when below 5, x2 more when val_bpb < 0.9, capped at 1. A non-finite or negative base counts
 * as 0.
 */
export function spotCheckProbability(
  baseRate: number,
  publisherScore: number,
  valBpb: number,
): number {
  let p = Number.isFinite(baseRate) && baseRate > 0 ? baseRate : 0;
  if (publisherScore < 0) p *= 3;
  else if (publisherScore < 5) p *= 2;
  if (valBpb < 0.9) p *= 2;
  return Math.min(1, p);
}

/** What a node knows when deciding whether to spot-check a record. */
export interface SpotCheckContext {
  /** This node's id: its own records are never checked. */
  selfId: string;
  /** This node's GPU class (any device string; normalized here). */
  selfGpuClass: string;
  /**
   * The publisher's current local score. A function: it is a database read, and most records
   * (other classes, or a sync-only node) are decided without it.
   */
  publisherScore: () => number;
  /** Base rate (config `spot_check_rate` / env `SPORE_SPOT_CHECK_RATE`). */
  baseRate: number;
  /** Uniform [0, 1) source, injected for deterministic tests. */
  random: () => number;
}

/** Spot-check decision with the reason, for logs and tests. */
export type SpotCheckDecision =
  | { check: true; probability: number }
  | {
    check: false;
    reason: "own" | "crash" | "other_class" | "disabled" | "chance";
    probability: number;
  };

/** Decide whether to spot-check `record`; draws from `random` only when the rules allow a check. */
export function decideSpotCheck(
  record: ExperimentRecord,
  ctx: SpotCheckContext,
): SpotCheckDecision {
  if (record.node_id === ctx.selfId) return { check: false, reason: "own", probability: 0 };
  if (record.status === "crash") return { check: false, reason: "crash", probability: 0 };
  if (normalizeGpuClass(record.gpu_model) !== normalizeGpuClass(ctx.selfGpuClass)) {
    return { check: false, reason: "other_class", probability: 0 };
  }
  if (!(ctx.baseRate > 0)) return { check: false, reason: "disabled", probability: 0 };
  const probability = spotCheckProbability(ctx.baseRate, ctx.publisherScore(), record.val_bpb);
  return ctx.random() < probability
    ? { check: true, probability }
    : { check: false, reason: "chance", probability };
}

/** Median the way Python's `statistics.median` computes it (mean of the middle two when even). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of an empty list");
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  // In range: s is not empty, so 0 <= mid - 1 < mid < s.length when the length is even.
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A resolved dispute. */
export interface DisputeResolution {
  outcome: "upheld" | "rejected";
  groundTruthBpb: number;
  verifierCount: number;
}

/**
 * Resolve a dispute: median of [claimed, challenger rerun, verifier reruns]; `rejected` when the
 * claim is farther than the class tolerance from it, else `upheld`.
 * @throws RangeError when there is no verifier rerun (a dispute needs independent evidence).
 */
export function resolveDispute(
  claimed: number,
  challengerBpb: number,
  verifierBpbs: readonly number[],
  gpuClass: string,
): DisputeResolution {
  if (verifierBpbs.length === 0) throw new RangeError("a dispute needs at least one verifier");
  const groundTruthBpb = median([claimed, challengerBpb, ...verifierBpbs]);
  const outcome = Math.abs(claimed - groundTruthBpb) > toleranceFor(gpuClass)
    ? "rejected"
    : "upheld";
  return { outcome, groundTruthBpb, verifierCount: verifierBpbs.length };
}

/** Responses a challenger waits for: min(3, independent same-class verifiers available). */
export function requiredResponses(available: number): number {
  return Math.max(0, Math.min(WANTED_RESPONSES, Math.floor(available)));
}

/** Score a publisher earns for one verification of a record with `status`. */
export function verifiedCredit(status: ExperimentStatus, isFrontier: boolean): number {
  switch (status) {
    case "keep":
      return isFrontier ? DELTA.verifiedFrontierKeep : DELTA.verifiedKeep;
    case "discard":
      return DELTA.verifiedDiscard;
    case "crash":
      return DELTA.verifiedCrash;
  }
}

/**
 * What this node decides for itself about a verification, never taking the event's word:
 * whether the record is on its own frontier now, and whether it can place the verifier
 * (see {@link canPlaceVerifier}).
 */
export interface VerificationCredit {
  onFrontier: boolean;
  verifierPlaced: boolean;
}

/** Nothing credited beyond the base amounts: for views that only judge events. */
export const NO_EXTRA_CREDIT: VerificationCredit = { onFrontier: false, verifierPlaced: false };

/** Ledger key of a publisher's credit for a verified experiment: one per experiment. */
export function publisherVerifiedKey(experimentId: string): string {
  return `verified:${experimentId}`;
}

/**
 * Credit of a publisher whose experiment was verified, by status, frontier keeps double. Keyed
 * by {@link publisherVerifiedKey}: given once per experiment (as the Python network does),
 * however many verifications arrive, and `onFrontier` comes from this node's own graph, never
 * from the event's `is_frontier` claim. Thirty keys verifying one record move its publisher once.
 */
export function publisherVerifiedDeltas(
  record: ExperimentRecord,
  onFrontier: boolean,
): ReputationDelta[] {
  return [{
    nodeId: record.node_id,
    score: verifiedCredit(record.status, record.status === "keep" && onFrontier),
    experiments_verified: 1,
  }];
}

/**
 * A verifier this node can place: it has published at least one record of the verified
 * record's GPU class that this node stores. Only placed verifiers earn the +0.5 for a rerun
 * (verification or challenge response); a freshly generated key earns nothing. (A Sybil can
 * still publish a record first; that costs a signed record every node stores and relays.)
 */
export function canPlaceVerifier(
  verifierRecords: readonly ExperimentRecord[],
  gpuClass: string,
): boolean {
  return verifierRecords.some((r) => normalizeGpuClass(r.gpu_model) === gpuClass);
}

/** The +0.5 of a performed rerun, for a placed verifier; none otherwise. */
export function verifierDeltas(verifierId: string, placed: boolean): ReputationDelta[] {
  return placed
    ? [{ nodeId: verifierId, score: DELTA.verificationPerformed, verifications_performed: 1 }]
    : [];
}

/** A dispute won or lost by `nodeId`. */
function disputeResultDeltas(nodeId: string, won: boolean): ReputationDelta[] {
  return won
    ? [{ nodeId, score: DELTA.disputeWon, disputes_won: 1 }]
    : [{ nodeId, score: DELTA.disputeLost, disputes_lost: 1 }];
}

/**
 * Deltas of an accepted dispute for the challenger (keyed by the dispute's event id): a rejected
 * claim is the challenger's win.
 */
export function challengerDisputeDeltas(
  challengerId: string,
  outcome: "upheld" | "rejected",
): ReputationDelta[] {
  return disputeResultDeltas(challengerId, outcome === "rejected");
}

/** Deltas of an accepted dispute for the publisher (keyed by {@link publisherDisputeKey}). */
export function publisherDisputeDeltas(
  publisherId: string,
  outcome: "upheld" | "rejected",
): ReputationDelta[] {
  return disputeResultDeltas(publisherId, outcome !== "rejected");
}

/**
 * Ledger key of a publisher's dispute outcome: one per experiment and outcome, so several
 * challengers reaching the same verdict move the publisher's score once.
 */
export function publisherDisputeKey(experimentId: string, outcome: "upheld" | "rejected"): string {
  return `dispute_${outcome}_publisher:${experimentId}`;
}

/**
 * Base spot-check rate: env `SPORE_SPOT_CHECK_RATE` over config `spot_check_rate` over 0.05.
 * @throws RangeError naming the source when a value is not a number in [0, 1].
 */
export function spotCheckRate(
  configRate: number | undefined,
  envValue: string | undefined,
): number {
  if (envValue !== undefined && envValue.trim() !== "") {
    return unitRate(Number(envValue), "SPORE_SPOT_CHECK_RATE");
  }
  if (configRate !== undefined) return unitRate(configRate, "spot_check_rate");
  return DEFAULT_SPOT_CHECK_RATE;
}

function unitRate(v: number, what: string): number {
  if (!(Number.isFinite(v) && v >= 0 && v <= 1)) {
    throw new RangeError(`${what} must be a number between 0 and 1, got ${String(v)}`);
  }
  return v;
}

/**
 * Challenge timeout in milliseconds from env `SPORE_CHALLENGE_TIMEOUT` (seconds, default 1800).
 * @throws RangeError when the value is not a positive number of seconds.
 */
export function challengeTimeoutMs(envValue: string | undefined): number {
  if (envValue === undefined || envValue.trim() === "") return DEFAULT_CHALLENGE_TIMEOUT_S * 1000;
  const s = Number(envValue);
  if (!(Number.isFinite(s) && s > 0)) {
    throw new RangeError(
      `SPORE_CHALLENGE_TIMEOUT must be a positive number of seconds, got ${envValue}`,
    );
  }
  return s * 1000;
}
