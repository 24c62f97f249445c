/**
 * Verification: spot-check policy, event application (reputation, exactly once, signed only),
 * and the service that reruns, challenges, answers and disputes (PROTOCOL.md sections 7, 8).
 * @module
 */
export type { ControlHandler } from "../node_types.ts";
export { type Timers, Verifier, type VerifierOptions, type VerifyLog } from "./service.ts";
export { EventApplier, type HandleResult, MAX_EVENT_BYTES } from "./applier.ts";
export {
  type EvidenceRow,
  type EvidenceState,
  type OwedAnswer,
  type PendingChallenge,
  VerifyDb,
  verifyDbPath,
} from "./db.ts";
export {
  challengeTimeoutMs,
  decideSpotCheck,
  DEFAULT_CHALLENGE_TIMEOUT_S,
  DEFAULT_SPOT_CHECK_RATE,
  DELTA,
  median,
  resolveDispute,
  spotCheckProbability,
  spotCheckRate,
} from "./policy.ts";
export { type VerifierConfig, type VerifierSettings, verifierSettings } from "./settings.ts";
export {
  type DisputeOutcome,
  type OpenChallenge,
  readVerificationSummary,
  type VerificationSummary,
} from "./summary.ts";
export {
  type EventState,
  type ExperimentState,
  type ExperimentVerification,
  experimentVerification,
} from "./experiment_view.ts";
