/**
 * Content-addressed signed objects: the shared rule behind records and profiles (PROTOCOL.md
 * section 2): `id` = SHA-256 of the canonical payload, `signature` = Ed25519 over the same bytes.
 * @module
 */
import { canonicalJson } from "./canonical.ts";
import { signHex, verifyHex } from "./crypto.ts";
import { sha256Hex } from "./hash.ts";
import { recordBytesTooMany } from "./limits.ts";

const encoder = new TextEncoder();

/** An object carrying a content id and a signature over the rest of its fields. */
export interface SignedObject {
  id: string;
  signature: string;
  node_id: string;
}

/** Canonical JSON of an object's payload: everything but `id` and `signature`. */
export function canonicalPayload(obj: object, floatKeys: ReadonlySet<string>): string {
  const { id: _id, signature: _sig, ...payload } = obj as Record<string, unknown>;
  return canonicalJson(payload, floatKeys);
}

/** Add `id` and `signature` to a payload, signing with `seed`. */
export function signPayload<P extends object>(
  payload: P,
  floatKeys: ReadonlySet<string>,
  seed: Uint8Array,
): P & { id: string; signature: string } {
  const bytes = encoder.encode(canonicalPayload(payload, floatKeys));
  return { ...payload, id: sha256Hex(bytes), signature: signHex(bytes, seed) };
}

/**
 * Check a structurally valid object's id and signature, and that its canonical payload is at
 * most `maxBytes`. Returns the failure reason, or null.
 */
export async function checkIdAndSignature(
  obj: SignedObject,
  floatKeys: ReadonlySet<string>,
  maxBytes = Infinity,
): Promise<string | null> {
  let bytes: Uint8Array;
  try {
    bytes = encoder.encode(canonicalPayload(obj, floatKeys));
  } catch (e) {
    return `cannot canonicalize: ${(e as Error).message}`;
  }
  if (bytes.length > maxBytes) return recordBytesTooMany(bytes.length, maxBytes);
  if (sha256Hex(bytes) !== obj.id) return "cid mismatch";
  if (!(await verifyHex(bytes, obj.signature, obj.node_id))) return "bad signature";
  return null;
}
