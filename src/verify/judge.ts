/**
 * Pure judgement of authenticated control events against the evidence a node holds: apply now
 * (with the ledger entries to write), wait for missing evidence, or refuse for good.
 * Rules: PROTOCOL.md sections 7 and 8; reputation amounts come from `policy.ts`.
 * @module
 */
import {
  challengeId,
  challengeResponseId,
  normalizeGpuClass,
  withinTolerance,
} from "../protocol/mod.ts";
import type {
  ChallengePayload,
  ChallengeResponsePayload,
  ControlEvent,
  ControlType,
  DisputePayload,
  ExperimentRecord,
  VerificationPayload,
} from "../protocol/types.ts";
import type { ReputationDelta } from "../store/mod.ts";
import {
  challengerDisputeDeltas,
  NO_EXTRA_CREDIT,
  publisherDisputeDeltas,
  publisherDisputeKey,
  publisherVerifiedDeltas,
  publisherVerifiedKey,
  resolveDispute,
  type VerificationCredit,
  verifierDeltas,
} from "./policy.ts";

/** Most verifier ids a dispute may list (real disputes list at most a handful). */
export const MAX_DISPUTE_EVIDENCE = 64;

/** One reputation ledger write: applied once per key. */
export interface LedgerEntry {
  key: string;
  kind: string;
  deltas: ReputationDelta[];
}

/** Outcome of judging one event. */
export type Verdict =
  | {
    state: "apply";
    /** Written in order; the event's own id is always last, so "applied" implies all. */
    ledger: LedgerEntry[];
    /** True when the experiment is to be marked verified in the graph. */
    markVerified: boolean;
  }
  | { state: "pending"; reason: string }
  | { state: "invalid"; reason: string };

/** What a node holds about an event another event depends on. */
export type Held<T> =
  | { state: "applied"; payload: T }
  | { state: "pending" | "invalid" | "missing" };

const pending = (reason: string): Verdict => ({ state: "pending", reason });
const invalid = (reason: string): Verdict => ({ state: "invalid", reason });

function sameClass(gpu: string, record: ExperimentRecord): boolean {
  return normalizeGpuClass(gpu) === normalizeGpuClass(record.gpu_model);
}

/**
 * A `verification`: a same-class rerun by someone other than the publisher, within tolerance.
 * The publisher's credit is keyed per experiment; the verifier's +0.5 only when `credit` places
 * it (what this node decided, see `policy.ts`).
 */
export function judgeVerification(
  p: VerificationPayload,
  record: ExperimentRecord | undefined,
  credit: VerificationCredit = NO_EXTRA_CREDIT,
): Verdict {
  if (!record) return pending("experiment not stored yet");
  if (p.verifier_id === record.node_id) return invalid("a node cannot verify its own experiment");
  if (p.verified_node_id !== record.node_id) {
    return invalid("verified_node_id is not the experiment's publisher");
  }
  if (!sameClass(p.verifier_gpu, record)) return invalid("verifier GPU is of another class");
  if (!withinTolerance(record.val_bpb, p.verifier_bpb, normalizeGpuClass(record.gpu_model))) {
    return invalid("verifier's rerun is outside tolerance of the claim");
  }
  return {
    state: "apply",
    ledger: [
      {
        key: publisherVerifiedKey(record.id),
        kind: "verified",
        deltas: publisherVerifiedDeltas(record, credit.onFrontier),
      },
      {
        key: p.event_id,
        kind: "verification",
        deltas: verifierDeltas(p.verifier_id, credit.verifierPlaced),
      },
    ],
    markVerified: true,
  };
}

/** A `challenge`: a same-class rerun outside tolerance, not by the publisher, not of a crash. */
export function judgeChallenge(p: ChallengePayload, record: ExperimentRecord | undefined): Verdict {
  if (!record) return pending("experiment not stored yet");
  if (p.challenger_id === record.node_id) {
    return invalid("a node cannot challenge its own experiment");
  }
  if (record.status === "crash") return invalid("crash records are not challenged");
  if (!sameClass(p.challenger_gpu, record)) return invalid("challenger GPU is of another class");
  if (withinTolerance(record.val_bpb, p.challenger_bpb, normalizeGpuClass(record.gpu_model))) {
    return invalid("challenger's rerun is within tolerance of the claim");
  }
  return {
    state: "apply",
    ledger: [{ key: p.event_id, kind: "challenge", deltas: [] }],
    markVerified: false,
  };
}

/**
 * A `challenge_response`: an answer to a held challenge by an independent same-class node; its
 * +0.5 only for a verifier this node places (`verifierPlaced`).
 */
export function judgeChallengeResponse(
  p: ChallengeResponsePayload,
  record: ExperimentRecord | undefined,
  challenge: Held<ChallengePayload>,
  verifierPlaced = false,
): Verdict {
  if (!record) return pending("experiment not stored yet");
  if (challenge.state === "invalid") return invalid("the challenge it answers was refused");
  if (challenge.state !== "applied") return pending("challenge not held yet");
  if (p.verifier_id === p.challenger_id) return invalid("a challenger cannot answer itself");
  if (p.verifier_id === record.node_id) {
    return invalid("the publisher cannot answer a challenge of its own experiment");
  }
  if (!sameClass(p.verifier_gpu, record)) return invalid("verifier GPU is of another class");
  return {
    state: "apply",
    ledger: [{
      key: p.event_id,
      kind: "challenge_response",
      deltas: verifierDeltas(p.verifier_id, verifierPlaced),
    }],
    markVerified: false,
  };
}

/** Evidence a dispute is checked against. */
export interface DisputeEvidence {
  record: ExperimentRecord | undefined;
  challenge: Held<ChallengePayload>;
  /** The held response of one verifier to this challenge. */
  response(verifierId: string): Held<ChallengeResponsePayload>;
  /** Every applied response to this challenge (for legacy disputes that list none). */
  appliedResponses(): ChallengeResponsePayload[];
}

/**
 * The verifier ids a dispute names as its evidence (our extension `verifier_ids`), undefined
 * when it names none (a legacy dispute), or a reason when the list is malformed.
 */
export function disputeVerifierIds(p: DisputePayload): string[] | undefined | { bad: string } {
  const raw = p.verifier_ids;
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || raw.length > MAX_DISPUTE_EVIDENCE) {
    return { bad: "verifier_ids must be a list of at most 64 ids" };
  }
  if (!raw.every((x): x is string => typeof x === "string" && x !== "")) {
    return { bad: "verifier_ids must hold non-empty strings" };
  }
  if (new Set(raw).size !== raw.length) return { bad: "verifier_ids repeats a verifier" };
  return raw;
}

/**
 * A `dispute`: applied only when the held, signed challenge and responses recompute the same
 * outcome and ground truth. Missing evidence waits; contradicting evidence is refused.
 */
export function judgeDispute(p: DisputePayload, ev: DisputeEvidence): Verdict {
  const record = ev.record;
  if (!record) return pending("experiment not stored yet");
  if (p.original_node_id !== record.node_id) {
    return invalid("original_node_id is not the experiment's publisher");
  }
  if (ev.challenge.state === "invalid") return invalid("the challenge it resolves was refused");
  if (ev.challenge.state !== "applied") return pending("challenge not held yet");
  const challenge = ev.challenge.payload;
  if (p.challenger_bpb !== challenge.challenger_bpb) {
    return invalid("challenger_bpb differs from the signed challenge");
  }
  if (!Number.isSafeInteger(p.verifier_count) || p.verifier_count < 1) {
    return invalid("a dispute needs at least one verifier");
  }
  const ids = disputeVerifierIds(p);
  if (ids !== undefined && !Array.isArray(ids)) return invalid(ids.bad);
  let responses: ChallengeResponsePayload[];
  if (ids === undefined) {
    responses = ev.appliedResponses();
    // Without a list, only an exact count identifies the challenger's evidence.
    if (responses.length !== p.verifier_count) {
      return pending(`holds ${responses.length} responses, dispute names ${p.verifier_count}`);
    }
  } else {
    if (ids.length !== p.verifier_count) {
      return invalid("verifier_ids does not match verifier_count");
    }
    responses = [];
    for (const id of ids) {
      const held = ev.response(id);
      if (held.state === "invalid") return invalid(`response of ${id.slice(0, 16)} was refused`);
      if (held.state !== "applied") return pending(`response of ${id.slice(0, 16)} not held yet`);
      responses.push(held.payload);
    }
  }
  const gpuClass = normalizeGpuClass(record.gpu_model);
  const r = resolveDispute(
    record.val_bpb,
    challenge.challenger_bpb,
    responses.map((x) => x.verifier_bpb),
    gpuClass,
  );
  if (r.outcome !== p.outcome) {
    return invalid(`evidence gives ${r.outcome}, dispute says ${p.outcome}`);
  }
  if (r.groundTruthBpb !== p.ground_truth_bpb) {
    return invalid("ground_truth_bpb is not the median of the evidence");
  }
  return {
    state: "apply",
    ledger: [
      {
        key: publisherDisputeKey(p.experiment_id, r.outcome),
        kind: "dispute",
        deltas: publisherDisputeDeltas(record.node_id, r.outcome),
      },
      {
        key: p.event_id,
        kind: "dispute",
        deltas: challengerDisputeDeltas(p.challenger_id, r.outcome),
      },
    ],
    markVerified: r.outcome === "upheld",
  };
}

/** Where {@link judgeEvent} finds what an event depends on. */
export interface EventEvidence {
  /** The held copy of an event (a challenge, a response) the judged one depends on. */
  held<T>(type: ControlType, eventId: string): Held<T>;
  /** Every applied response to `challengerId`'s challenge of an experiment. */
  appliedResponses(experimentId: string, challengerId: string): ChallengeResponsePayload[];
  /** Extra credit (see {@link VerificationCredit}); none when absent. */
  credit?: {
    onFrontier(record: ExperimentRecord): boolean;
    verifierPlaced(verifierId: string, record: ExperimentRecord): boolean;
  };
}

/** Judge any control event by its type against `ev` (the applier's and the view's rules). */
export function judgeEvent(
  event: ControlEvent,
  record: ExperimentRecord | undefined,
  ev: EventEvidence,
): Verdict {
  const experimentId = event.payload.experiment_id;
  const challenge = (challengerId: string) =>
    ev.held<ChallengePayload>("challenge", challengeId(experimentId, challengerId));
  const placed = (verifierId: string) =>
    record !== undefined && (ev.credit?.verifierPlaced(verifierId, record) ?? false);
  switch (event.type) {
    case "verification":
      return judgeVerification(event.payload, record, {
        onFrontier: record !== undefined && (ev.credit?.onFrontier(record) ?? false),
        verifierPlaced: placed(event.payload.verifier_id),
      });
    case "challenge":
      return judgeChallenge(event.payload, record);
    case "challenge_response":
      return judgeChallengeResponse(
        event.payload,
        record,
        challenge(event.payload.challenger_id),
        placed(event.payload.verifier_id),
      );
    case "dispute": {
      const challenger = event.payload.challenger_id;
      return judgeDispute(event.payload, {
        record,
        challenge: challenge(challenger),
        response: (verifierId) =>
          ev.held<ChallengeResponsePayload>(
            "challenge_response",
            challengeResponseId(experimentId, challenger, verifierId),
          ),
        appliedResponses: () => ev.appliedResponses(experimentId, challenger),
      });
    }
  }
}
