import assert from "node:assert/strict";
import type {
  ChallengePayload,
  ChallengeResponsePayload,
  DisputePayload,
  VerificationPayload,
} from "../../src/protocol/mod.ts";
import {
  type DisputeEvidence,
  type Held,
  judgeChallenge,
  judgeChallengeResponse,
  judgeDispute,
  judgeVerification,
} from "../../src/verify/judge.ts";
import { key, makeRecord } from "./helpers.ts";

const pub = key(0);
const checker = key(1);
const v1 = key(2);
const v2 = key(3);
const { record } = makeRecord(pub, { claimOffset: -0.05 }); // claims 0.05 better than its code
const truth = record.val_bpb + 0.05;

function verification(over: Partial<VerificationPayload> = {}): VerificationPayload {
  return {
    event_id: `verification:${record.id}:${checker.nodeId}`,
    experiment_id: record.id,
    verified_node_id: pub.nodeId,
    verifier_id: checker.nodeId,
    verifier_gpu: "H100",
    verifier_bpb: record.val_bpb + 0.001,
    is_frontier: false,
    ...over,
  };
}

const challenge: ChallengePayload = {
  event_id: `challenge:${record.id}:${checker.nodeId}`,
  experiment_id: record.id,
  challenger_id: checker.nodeId,
  challenger_bpb: truth,
  challenger_gpu: "H100 80GB HBM3",
};

function response(verifier: string, bpb: number): ChallengeResponsePayload {
  return {
    event_id: `challenge_response:${record.id}:${checker.nodeId}:${verifier}`,
    experiment_id: record.id,
    challenger_id: checker.nodeId,
    verifier_id: verifier,
    verifier_bpb: bpb,
    verifier_gpu: "H100",
  };
}

function dispute(over: Partial<DisputePayload> = {}): DisputePayload {
  return {
    event_id: `dispute:${record.id}:${checker.nodeId}`,
    experiment_id: record.id,
    original_node_id: pub.nodeId,
    challenger_id: checker.nodeId,
    challenger_bpb: truth,
    outcome: "rejected",
    ground_truth_bpb: truth,
    verifier_count: 2,
    verifier_ids: [v1.nodeId, v2.nodeId],
    ...over,
  };
}

const applied = <T>(payload: T): Held<T> => ({ state: "applied", payload });

function evidence(
  responses: Record<string, Held<ChallengeResponsePayload>>,
  ch: Held<ChallengePayload> = applied(challenge),
): DisputeEvidence {
  return {
    record,
    challenge: ch,
    response: (id) => responses[id] ?? { state: "missing" },
    appliedResponses: () =>
      Object.values(responses).flatMap((r) => r.state === "applied" ? [r.payload] : []),
  };
}

Deno.test("verification: applied with credit and mark, or refused by the rules", () => {
  const ok = judgeVerification(verification(), record);
  assert.equal(ok.state, "apply");
  assert.ok(ok.state === "apply" && ok.markVerified);
  assert.deepEqual(ok.state === "apply" && ok.ledger.map((l) => l.key), [
    `verified:${record.id}`,
    verification().event_id,
  ]);
  assert.equal(judgeVerification(verification(), undefined).state, "pending");
  const own = judgeVerification(verification({ verifier_id: pub.nodeId }), record);
  assert.deepEqual(own, { state: "invalid", reason: "a node cannot verify its own experiment" });
  assert.equal(
    judgeVerification(verification({ verified_node_id: v1.nodeId }), record).state,
    "invalid",
  );
  assert.equal(judgeVerification(verification({ verifier_gpu: "A100" }), record).state, "invalid");
  assert.equal(judgeVerification(verification({ verifier_bpb: truth }), record).state, "invalid");
});

Deno.test("challenge: needs a same-class rerun outside tolerance, not by the publisher", () => {
  assert.equal(judgeChallenge(challenge, record).state, "apply");
  assert.equal(judgeChallenge(challenge, undefined).state, "pending");
  assert.equal(
    judgeChallenge({ ...challenge, challenger_id: pub.nodeId }, record).state,
    "invalid",
  );
  assert.equal(
    judgeChallenge({ ...challenge, challenger_bpb: record.val_bpb }, record).state,
    "invalid",
  );
  assert.equal(
    judgeChallenge({ ...challenge, challenger_gpu: "RTX 4090" }, record).state,
    "invalid",
  );
  const crash = makeRecord(pub, { status: "crash" }).record;
  assert.equal(judgeChallenge({ ...challenge, experiment_id: crash.id }, crash).state, "invalid");
});

Deno.test("challenge response: waits for its challenge, refuses publisher and challenger", () => {
  const r = response(v1.nodeId, truth);
  assert.equal(judgeChallengeResponse(r, record, applied(challenge)).state, "apply");
  assert.equal(judgeChallengeResponse(r, record, { state: "missing" }).state, "pending");
  assert.equal(judgeChallengeResponse(r, record, { state: "pending" }).state, "pending");
  assert.equal(judgeChallengeResponse(r, record, { state: "invalid" }).state, "invalid");
  assert.equal(judgeChallengeResponse(r, undefined, applied(challenge)).state, "pending");
  for (const who of [pub.nodeId, checker.nodeId]) {
    const bad = response(who, truth);
    assert.equal(judgeChallengeResponse(bad, record, applied(challenge)).state, "invalid");
  }
  const otherClass = { ...r, verifier_gpu: "APPLE M2 MPS" };
  assert.equal(judgeChallengeResponse(otherClass, record, applied(challenge)).state, "invalid");
});

Deno.test("dispute: applied only when the named, held evidence recomputes it", () => {
  const held = {
    [v1.nodeId]: applied(response(v1.nodeId, truth)),
    [v2.nodeId]: applied(response(v2.nodeId, truth + 0.0004)),
  };
  const ok = judgeDispute(dispute(), evidence(held));
  assert.equal(ok.state, "apply");
  assert.ok(ok.state === "apply" && !ok.markVerified);
  // The publisher's entry is keyed per experiment and written before the dispute's own id.
  assert.deepEqual(ok.state === "apply" && ok.ledger.map((l) => l.key), [
    `dispute_rejected_publisher:${record.id}`,
    dispute().event_id,
  ]);
  // Contradictions are refused for good.
  assert.equal(judgeDispute(dispute({ outcome: "upheld" }), evidence(held)).state, "invalid");
  assert.equal(
    judgeDispute(dispute({ ground_truth_bpb: truth + 0.01 }), evidence(held)).state,
    "invalid",
  );
  assert.equal(
    judgeDispute(dispute({ challenger_bpb: truth + 0.01 }), evidence(held)).state,
    "invalid",
  );
  assert.equal(
    judgeDispute(dispute({ original_node_id: v1.nodeId }), evidence(held)).state,
    "invalid",
  );
  assert.equal(judgeDispute(dispute({ verifier_count: 3 }), evidence(held)).state, "invalid");
  assert.equal(
    judgeDispute(dispute({ verifier_count: 0, verifier_ids: [] }), evidence(held)).state,
    "invalid",
  );
  assert.equal(
    judgeDispute(dispute({ verifier_ids: [v1.nodeId, v1.nodeId] }), evidence(held)).state,
    "invalid",
  );
  assert.equal(judgeDispute(dispute({ verifier_ids: "x" }), evidence(held)).state, "invalid");
  const refused = { ...held, [v2.nodeId]: { state: "invalid" } as const };
  assert.equal(judgeDispute(dispute(), evidence(refused)).state, "invalid");
  assert.equal(judgeDispute(dispute(), evidence(held, { state: "invalid" })).state, "invalid");
  // Missing evidence waits.
  const partial = { [v1.nodeId]: held[v1.nodeId]! };
  assert.equal(judgeDispute(dispute(), evidence(partial)).state, "pending");
  assert.equal(judgeDispute(dispute(), evidence(held, { state: "missing" })).state, "pending");
  assert.equal(judgeDispute(dispute(), { ...evidence(held), record: undefined }).state, "pending");
});

Deno.test("dispute: an upheld outcome marks verified; a legacy dispute uses every held response", () => {
  // Verifiers agree with the claim: upheld.
  const near = record.val_bpb;
  const held = {
    [v1.nodeId]: applied(response(v1.nodeId, near)),
    [v2.nodeId]: applied(response(v2.nodeId, near + 0.0002)),
  };
  // Values: claim, challenger, near, near + 0.0002: the median is the mean of the middle two.
  const upheld = dispute({ outcome: "upheld", ground_truth_bpb: (near + (near + 0.0002)) / 2 });
  const ok = judgeDispute(upheld, evidence(held));
  assert.ok(ok.state === "apply" && ok.markVerified);
  const legacy = { ...upheld };
  delete legacy.verifier_ids;
  assert.equal(judgeDispute(legacy, evidence(held)).state, "apply");
  assert.equal(judgeDispute({ ...legacy, verifier_count: 3 }, evidence(held)).state, "pending");
});
