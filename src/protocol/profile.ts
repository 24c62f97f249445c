/**
 * Node profiles: canonical bytes, id, signing and validation (PROTOCOL.md section 4).
 * @module
 */
import { checkFields, type FieldKind } from "./fields.ts";
import { isHex } from "./hash.ts";
import { canonicalPayload, checkIdAndSignature, signPayload } from "./signed.ts";
import type { NodeProfile, ProfilePayload, Validated } from "./types.ts";

/** Wire schema of a profile. */
export const PROFILE_SCHEMA: Readonly<Record<keyof NodeProfile, FieldKind>> = {
  id: "str",
  node_id: "str",
  display_name: "str",
  bio: "str",
  website: "str",
  avatar_url: "str",
  donation_address: "str",
  timestamp: "int",
  signature: "str",
  schema_version: "int",
};

const NO_FLOATS: ReadonlySet<string> = new Set();

/** Editable text fields of a profile, with the longest value we accept for each. */
export const PROFILE_TEXT_LIMITS = {
  display_name: 64,
  bio: 1000,
  website: 256,
  avatar_url: 512,
  donation_address: 256,
} as const;

/** Canonical JSON text of a profile's signed payload. */
export function canonicalProfile(p: ProfilePayload | NodeProfile): string {
  return canonicalPayload(p, NO_FLOATS);
}

/** Build the signed profile of `payload` with the node key `seed`. */
export function signProfile(payload: ProfilePayload, seed: Uint8Array): NodeProfile {
  return signPayload(payload, NO_FLOATS, seed);
}

/** Synchronous structural check of an untrusted profile. */
export function checkProfileShape(raw: unknown): Validated<NodeProfile> {
  const reason = checkFields(raw, PROFILE_SCHEMA, "profile");
  if (reason) return { ok: false, reason };
  const p = raw as NodeProfile;
  if (!isHex(p.node_id, 32)) return { ok: false, reason: "node_id is not a 32-byte hex key" };
  if (!isHex(p.id, 32)) return { ok: false, reason: "id is not a 32-byte hex digest" };
  return { ok: true, value: p };
}

/** Full validation of an untrusted profile: shape, id and signature. */
export async function validateProfile(raw: unknown): Promise<Validated<NodeProfile>> {
  const shape = checkProfileShape(raw);
  if (!shape.ok) return shape;
  const reason = await checkIdAndSignature(shape.value, NO_FLOATS);
  return reason ? { ok: false, reason } : shape;
}
