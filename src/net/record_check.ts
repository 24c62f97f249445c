/**
 * Synchronous full validation of one record (shape, content id, Ed25519 signature), the work of
 * the verify worker. Signatures go through Deno's native `node:crypto`: about 40 us of CPU each
 * here, half of WebCrypto's (whose async verify also spreads over a thread pool).
 * @module
 */
import { Buffer } from "node:buffer";
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import {
  canonicalRecord,
  checkRecordShape,
  recordBytesTooMany,
  sha256Hex,
} from "../protocol/mod.ts";

const SPKI_PREFIX = "302a300506032b6570032100";
const KEY_CACHE_MAX = 4096;
const keys = new Map<string, KeyObject | null>();
const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-fA-F]{128}$/;

function publicKey(nodeId: string): KeyObject | null {
  let key = keys.get(nodeId);
  if (key !== undefined) return key;
  key = null;
  if (HEX64.test(nodeId)) {
    try {
      key = createPublicKey({
        key: Buffer.from(SPKI_PREFIX + nodeId, "hex"),
        format: "der",
        type: "spki",
      });
    } catch {
      key = null;
    }
  }
  if (keys.size >= KEY_CACHE_MAX) keys.delete(keys.keys().next().value!);
  keys.set(nodeId, key);
  return key;
}

/**
 * Validate one untrusted record: shape, content id, signature. Returns null when valid, else the
 * reason (the same verdicts as `validateRecord`, synchronously).
 */
export function checkRecord(raw: unknown): string | null {
  const shape = checkRecordShape(raw);
  if (!shape.ok) return shape.reason;
  const rec = shape.value;
  let bytes: Buffer;
  try {
    bytes = Buffer.from(canonicalRecord(rec), "utf8");
  } catch (e) {
    return `cannot canonicalize: ${(e as Error).message}`;
  }
  const tooBig = recordBytesTooMany(bytes.length);
  if (tooBig) return tooBig;
  if (sha256Hex(bytes) !== rec.id) return "cid mismatch";
  const key = publicKey(rec.node_id);
  if (!key || !HEX128.test(rec.signature)) return "bad signature";
  try {
    return verify(null, bytes, key, Buffer.from(rec.signature, "hex")) ? null : "bad signature";
  } catch {
    return "bad signature";
  }
}
