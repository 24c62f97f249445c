import assert from "node:assert/strict";
import {
  challengeId,
  challengeResponseId,
  checkControlAuth,
  type ControlAuth,
  type ControlEvent,
  disputeId,
  expectedEventId,
  hexToBytes,
  isTrustedControl,
  shortId,
  signControl,
  verificationId,
} from "../../src/protocol/mod.ts";
import { vectors } from "./vectors.ts";
import { take } from "../tuple.ts";

const [alice, bob] = take(vectors.keys, 2);
const expId = vectors.records[0]!.cid;

function challenge(challenger: string): ControlEvent {
  return {
    type: "challenge",
    payload: {
      event_id: `challenge:${expId}:${challenger}`,
      experiment_id: expId,
      challenger_id: challenger,
      challenger_bpb: 1.0,
      challenger_gpu: "CPU",
    },
  };
}

Deno.test("event ids follow the deterministic pattern", () => {
  assert.equal(expectedEventId(challenge(alice.node_id)), `challenge:${expId}:${alice.node_id}`);
  // PROTOCOL.md section 6, spelled out here independently of the builders.
  const [a, b] = [alice.node_id, bob.node_id];
  assert.equal(challengeId(expId, a), `challenge:${expId}:${a}`);
  assert.equal(challengeResponseId(expId, a, b), `challenge_response:${expId}:${a}:${b}`);
  assert.equal(verificationId(expId, b), `verification:${expId}:${b}`);
  assert.equal(disputeId(expId, a), `dispute:${expId}:${a}`);
});

Deno.test("the trust rule: signed always, unsigned only on a legacy network, nothing else", () => {
  const all: ControlAuth[] = [
    "signed",
    "unsigned",
    "bad_signature",
    "wrong_signer",
    "bad_event_id",
  ];
  assert.deepEqual(all.filter((a) => isTrustedControl(a, false)), ["signed"]);
  assert.deepEqual(all.filter((a) => isTrustedControl(a, true)), ["signed", "unsigned"]);
});

Deno.test("short ids: 12 characters for people, 8 in the verifier's log", () => {
  assert.equal(shortId(expId), expId.slice(0, 12));
  assert.equal(shortId(expId, 8), expId.slice(0, 8));
});

Deno.test("signed control events verify; tampering, wrong signer and unsigned are detected", async () => {
  const signed = signControl(challenge(alice.node_id), hexToBytes(alice.seed_hex), alice.node_id);
  assert.equal(await checkControlAuth(signed), "signed");
  assert.equal(await checkControlAuth(challenge(alice.node_id)), "unsigned");
  const tampered = {
    ...signed,
    payload: { ...signed.payload, challenger_bpb: 0.5 },
  } as ControlEvent;
  assert.equal(await checkControlAuth(tampered), "bad_signature");
  const byBob = signControl(challenge(alice.node_id), hexToBytes(bob.seed_hex), bob.node_id);
  assert.equal(await checkControlAuth(byBob), "wrong_signer");
  const forgedSigner = {
    ...byBob,
    payload: { ...byBob.payload, signer: alice.node_id },
  } as ControlEvent;
  assert.equal(await checkControlAuth(forgedSigner), "bad_signature");
  const badId = {
    ...signed,
    payload: { ...signed.payload, event_id: "challenge:x:y" },
  } as ControlEvent;
  assert.equal(await checkControlAuth(badId), "bad_event_id");
});

Deno.test("signed events survive a JSON round trip (integral floats included)", async () => {
  const signed = signControl(challenge(alice.node_id), hexToBytes(alice.seed_hex), alice.node_id);
  const back = JSON.parse(JSON.stringify(signed)) as ControlEvent;
  assert.equal(await checkControlAuth(back), "signed");
});
