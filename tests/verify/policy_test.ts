import assert from "node:assert/strict";
import { normalizeGpuClass } from "../../src/protocol/mod.ts";
import {
  canPlaceVerifier,
  challengerDisputeDeltas,
  challengeTimeoutMs,
  decideSpotCheck,
  median,
  publisherDisputeDeltas,
  publisherDisputeKey,
  publisherVerifiedDeltas,
  publisherVerifiedKey,
  requiredResponses,
  resolveDispute,
  spotCheckProbability,
  spotCheckRate,
  verifiedCredit,
  verifierDeltas,
} from "../../src/verify/policy.ts";
import { key, makeRecord } from "./helpers.ts";

const pub = key(0);
const me = key(1);

Deno.test("spot-check probability follows the multipliers and the cap", () => {
  assert.equal(spotCheckProbability(0.05, 10, 1.0), 0.05);
  assert.equal(spotCheckProbability(0.05, 5, 1.0), 0.05); // 5 is not < 5
  assert.equal(spotCheckProbability(0.05, 4.9, 1.0), 0.1);
  assert.equal(spotCheckProbability(0.05, 0, 1.0), 0.1);
  assert.ok(Math.abs(spotCheckProbability(0.05, -0.1, 1.0) - 0.15) < 1e-12);
  assert.ok(Math.abs(spotCheckProbability(0.05, -1, 0.89) - 0.3) < 1e-12);
  assert.equal(spotCheckProbability(0.05, 10, 0.9), 0.05); // 0.9 is not < 0.9
  assert.equal(spotCheckProbability(0.05, 10, 0.5), 0.1);
  assert.equal(spotCheckProbability(0.5, -3, 0.5), 1);
  assert.equal(spotCheckProbability(Number.NaN, -3, 0.5), 0);
  assert.equal(spotCheckProbability(-1, -3, 0.5), 0);
});

Deno.test("spot-check decision skips own, crash and other-class records without drawing", () => {
  let draws = 0;
  let scoreReads = 0;
  const ctx = {
    selfId: me.nodeId,
    selfGpuClass: "H100",
    publisherScore: () => {
      scoreReads++;
      return 10;
    },
    baseRate: 1,
    random: () => {
      draws++;
      return 0;
    },
  };
  const own = makeRecord(me).record;
  assert.deepEqual(decideSpotCheck(own, ctx), { check: false, reason: "own", probability: 0 });
  const crash = makeRecord(pub, { status: "crash" }).record;
  assert.deepEqual(decideSpotCheck(crash, ctx), { check: false, reason: "crash", probability: 0 });
  const other = makeRecord(pub, { gpu: "NVIDIA A100-SXM4-80GB" }).record;
  assert.equal(decideSpotCheck(other, ctx).check, false);
  const same = makeRecord(pub, { gpu: "H100 PCIe" }).record;
  assert.deepEqual(decideSpotCheck(same, { ...ctx, baseRate: 0 }), {
    check: false,
    reason: "disabled",
    probability: 0,
  });
  assert.equal(draws, 0);
  assert.equal(scoreReads, 0, "the publisher's score is read only for a possible check");
  assert.deepEqual(decideSpotCheck(same, ctx), { check: true, probability: 1 });
  assert.equal(draws, 1);
  assert.equal(scoreReads, 1);
});

Deno.test("spot-check decision compares the draw with the probability", () => {
  const rec = makeRecord(pub).record; // val_bpb in [0.95, 1.05]
  const ctx = (r: number, score: number) => ({
    selfId: me.nodeId,
    selfGpuClass: "H100",
    publisherScore: () => score,
    baseRate: 0.05,
    random: () => r,
  });
  assert.equal(decideSpotCheck(rec, ctx(0.049, 10)).check, true);
  assert.equal(decideSpotCheck(rec, ctx(0.05, 10)).check, false);
  assert.equal(decideSpotCheck(rec, ctx(0.099, 1)).check, true);
  assert.equal(decideSpotCheck(rec, ctx(0.1, 1)).check, false);
});

Deno.test("median matches Python's statistics.median", () => {
  assert.equal(median([3]), 3);
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([1.0, 0.9, 1.0, 1.0, 0.95]), 1.0);
  assert.throws(() => median([]), RangeError);
});

Deno.test("dispute resolution: rejected when the claim is off the median, upheld otherwise", () => {
  // Claimed 0.90, challenger and three verifiers near 1.00: median 1.00, claim rejected.
  assert.deepEqual(resolveDispute(0.9, 1.0, [1.0005, 0.9995, 1.0], "H100"), {
    outcome: "rejected",
    groundTruthBpb: 1.0,
    verifierCount: 3,
  });
  // Verifiers agree with the claim: the challenger is outvoted.
  assert.deepEqual(resolveDispute(1.0, 0.95, [1.0, 1.001, 0.9995], "H100"), {
    outcome: "upheld",
    groundTruthBpb: 1.0,
    verifierCount: 3,
  });
  // One verifier: median of three values.
  assert.equal(resolveDispute(0.9, 1.0, [1.0], "H100").outcome, "rejected");
  // Tolerance is the class's: 0.0025 off is within RTX_3090's 0.003, outside H100's 0.0015.
  assert.equal(resolveDispute(1.0, 1.0025, [1.0025, 1.0025], "RTX 3090").outcome, "upheld");
  assert.equal(resolveDispute(1.0, 1.0025, [1.0025, 1.0025], "H100").outcome, "rejected");
  assert.throws(() => resolveDispute(1, 1, [], "H100"), RangeError);
});

Deno.test("required responses is min(3, available)", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 10].map(requiredResponses), [0, 1, 2, 3, 3, 3]);
});

Deno.test("verification deltas follow status and frontier", () => {
  assert.equal(verifiedCredit("keep", false), 1.0);
  assert.equal(verifiedCredit("keep", true), 2.0);
  assert.equal(verifiedCredit("discard", true), 0.3);
  assert.equal(verifiedCredit("crash", false), 0.1);
  const keep = makeRecord(pub).record;
  assert.deepEqual(publisherVerifiedDeltas(keep, true), [
    { nodeId: pub.nodeId, score: 2.0, experiments_verified: 1 },
  ]);
  assert.equal(publisherVerifiedKey(keep.id), `verified:${keep.id}`);
  // Being on the frontier earns nothing extra on a discard record.
  const discard = makeRecord(pub, { status: "discard" }).record;
  assert.equal(publisherVerifiedDeltas(discard, true)[0]!.score, 0.3);
  assert.deepEqual(verifierDeltas(me.nodeId, true), [
    { nodeId: me.nodeId, score: 0.5, verifications_performed: 1 },
  ]);
  assert.deepEqual(verifierDeltas(me.nodeId, false), []);
});

Deno.test("a verifier is placed only by a stored record of the same GPU class", () => {
  const h100 = makeRecord(me).record;
  assert.equal(canPlaceVerifier([h100], normalizeGpuClass(h100.gpu_model)), true);
  assert.equal(canPlaceVerifier([h100], "RTX_3060"), false);
  assert.equal(canPlaceVerifier([], normalizeGpuClass(h100.gpu_model)), false);
});

Deno.test("dispute deltas: the side the median supports wins +1.0, the other loses -5.0", () => {
  assert.deepEqual(challengerDisputeDeltas(me.nodeId, "rejected"), [
    { nodeId: me.nodeId, score: 1.0, disputes_won: 1 },
  ]);
  assert.deepEqual(publisherDisputeDeltas(pub.nodeId, "rejected"), [
    { nodeId: pub.nodeId, score: -5.0, disputes_lost: 1 },
  ]);
  assert.deepEqual(challengerDisputeDeltas(me.nodeId, "upheld"), [
    { nodeId: me.nodeId, score: -5.0, disputes_lost: 1 },
  ]);
  assert.deepEqual(publisherDisputeDeltas(pub.nodeId, "upheld"), [
    { nodeId: pub.nodeId, score: 1.0, disputes_won: 1 },
  ]);
  assert.notEqual(publisherDisputeKey("e", "upheld"), publisherDisputeKey("e", "rejected"));
  assert.ok(!publisherDisputeKey("e", "rejected").startsWith("dispute:"));
});

Deno.test("spot-check rate: env over config over default, validated", () => {
  assert.equal(spotCheckRate(undefined, undefined), 0.05);
  assert.equal(spotCheckRate(0.5, undefined), 0.5);
  assert.equal(spotCheckRate(0.5, "1"), 1);
  assert.equal(spotCheckRate(0.5, " "), 0.5);
  assert.throws(() => spotCheckRate(undefined, "abc"), /SPORE_SPOT_CHECK_RATE/);
  assert.throws(() => spotCheckRate(1.5, undefined), /spot_check_rate/);
});

Deno.test("challenge timeout: SPORE_CHALLENGE_TIMEOUT seconds, default 1800", () => {
  assert.equal(challengeTimeoutMs(undefined), 1_800_000);
  assert.equal(challengeTimeoutMs("2.5"), 2500);
  assert.throws(() => challengeTimeoutMs("0"), /SPORE_CHALLENGE_TIMEOUT/);
  assert.throws(() => challengeTimeoutMs("soon"), /SPORE_CHALLENGE_TIMEOUT/);
});
