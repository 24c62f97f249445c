/**
 * Control events (challenge, challenge_response, verification, dispute): schemas, deterministic
 * event ids (PROTOCOL.md section 6) and our signing extension (section 8).
 * @module
 */
import { canonicalJson } from "./canonical.ts";
import { signHex, verifyHex } from "./crypto.ts";
import { checkFields, type FieldKind } from "./fields.ts";
import { MAX_CONTROL_KEYS } from "./limits.ts";
import type { ControlEvent, ControlType, Validated } from "./types.ts";

/** Required fields of each control payload (extra keys are tolerated, as Python peers do). */
export const CONTROL_SCHEMAS: Readonly<Record<ControlType, Readonly<Record<string, FieldKind>>>> = {
  challenge: {
    event_id: "str",
    experiment_id: "str",
    challenger_id: "str",
    challenger_bpb: "float",
    challenger_gpu: "str",
  },
  challenge_response: {
    event_id: "str",
    experiment_id: "str",
    challenger_id: "str",
    verifier_id: "str",
    verifier_bpb: "float",
    verifier_gpu: "str",
  },
  verification: {
    event_id: "str",
    experiment_id: "str",
    verified_node_id: "str",
    verifier_id: "str",
    verifier_gpu: "str",
    verifier_bpb: "float",
    is_frontier: "bool",
  },
  dispute: {
    event_id: "str",
    experiment_id: "str",
    original_node_id: "str",
    challenger_id: "str",
    challenger_bpb: "float",
    outcome: "str",
    ground_truth_bpb: "float",
    verifier_count: "int",
  },
};

/** Float-typed control fields, for canonical signing bytes. */
export const CONTROL_FLOAT_KEYS: ReadonlySet<string> = new Set([
  "challenger_bpb",
  "verifier_bpb",
  "ground_truth_bpb",
]);

/** The node that must sign each event type: the acting node. */
export function actingNode(event: ControlEvent): string {
  switch (event.type) {
    case "challenge":
    case "dispute":
      return event.payload.challenger_id;
    case "challenge_response":
    case "verification":
      return event.payload.verifier_id;
  }
}

/** Event id of `challengerId`'s challenge of an experiment (PROTOCOL.md section 6). */
export function challengeId(experimentId: string, challengerId: string): string {
  return `challenge:${experimentId}:${challengerId}`;
}

/** Event id of `verifierId`'s answer to `challengerId`'s challenge of an experiment. */
export function challengeResponseId(
  experimentId: string,
  challengerId: string,
  verifierId: string,
): string {
  return `challenge_response:${experimentId}:${challengerId}:${verifierId}`;
}

/** Event id of `verifierId`'s verification of an experiment. */
export function verificationId(experimentId: string, verifierId: string): string {
  return `verification:${experimentId}:${verifierId}`;
}

/** Event id of the dispute that resolves `challengerId`'s challenge of an experiment. */
export function disputeId(experimentId: string, challengerId: string): string {
  return `dispute:${experimentId}:${challengerId}`;
}

/** The deterministic event id a payload of this type must carry. */
export function expectedEventId(event: ControlEvent): string {
  switch (event.type) {
    case "challenge":
      return challengeId(event.payload.experiment_id, event.payload.challenger_id);
    case "challenge_response":
      return challengeResponseId(
        event.payload.experiment_id,
        event.payload.challenger_id,
        event.payload.verifier_id,
      );
    case "verification":
      return verificationId(event.payload.experiment_id, event.payload.verifier_id);
    case "dispute":
      return disputeId(event.payload.experiment_id, event.payload.challenger_id);
  }
}

/**
 * Structural check of an untrusted control payload of a known type. Extra keys are tolerated up
 * to `MAX_CONTROL_KEYS` in all (the payload's bytes are bounded where the frame is parsed).
 */
export function checkControl(type: ControlType, raw: unknown): Validated<ControlEvent> {
  const reason = checkFields(raw, CONTROL_SCHEMAS[type], type, true);
  if (reason) return { ok: false, reason };
  const keys = Object.keys(raw as object).length;
  if (keys > MAX_CONTROL_KEYS) {
    return { ok: false, reason: `${type}: ${keys} keys (limit ${MAX_CONTROL_KEYS})` };
  }
  const event = { type, payload: raw } as ControlEvent;
  if (event.type === "dispute" && !["upheld", "rejected"].includes(event.payload.outcome)) {
    return { ok: false, reason: "dispute: outcome must be upheld or rejected" };
  }
  if (event.payload.event_id.length > 512) {
    return { ok: false, reason: `${type}: event_id too long` };
  }
  return { ok: true, value: event };
}

const encoder = new TextEncoder();

function signingBytes(payload: Record<string, unknown>): Uint8Array {
  const { sig: _sig, ...rest } = payload;
  return encoder.encode(canonicalJson(rest, CONTROL_FLOAT_KEYS));
}

/** Sign a control event as `nodeId` (our extension): adds `signer` and `sig`. */
export function signControl<E extends ControlEvent>(event: E, seed: Uint8Array, nodeId: string): E {
  const payload = { ...event.payload, signer: nodeId };
  delete (payload as Record<string, unknown>).sig;
  return { ...event, payload: { ...payload, sig: signHex(signingBytes(payload), seed) } };
}

/** Signature state of a control event. */
export type ControlAuth = "signed" | "unsigned" | "bad_signature" | "wrong_signer" | "bad_event_id";

/**
 * The trust rule: an event may be logged and applied when it is signed by its acting node, or
 * unsigned where the legacy network switch `acceptUnsigned` is on; never with a bad signature,
 * the wrong signer or a wrong event id.
 */
export function isTrustedControl(auth: ControlAuth, acceptUnsigned: boolean): boolean {
  return auth === "signed" || (auth === "unsigned" && acceptUnsigned);
}

/**
 * Check a control event's authenticity: its event id is the deterministic one, its signer is the
 * acting node, and `sig` verifies. Unsigned events are reported as such (relayed, never applied).
 */
export async function checkControlAuth(event: ControlEvent): Promise<ControlAuth> {
  if (event.payload.event_id !== expectedEventId(event)) return "bad_event_id";
  const { signer, sig } = event.payload;
  if (signer === undefined && sig === undefined) return "unsigned";
  if (typeof signer !== "string" || typeof sig !== "string") return "bad_signature";
  if (signer !== actingNode(event)) return "wrong_signer";
  let bytes: Uint8Array;
  try {
    bytes = signingBytes(event.payload);
  } catch {
    return "bad_signature";
  }
  return (await verifyHex(bytes, sig, signer)) ? "signed" : "bad_signature";
}
