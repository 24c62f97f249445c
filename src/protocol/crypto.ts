/**
 * Ed25519 keys, signing and verification.
 *
 * Signing and key derivation use @noble/ed25519 (synchronous; rare: only our own records).
 * Verification, the hot path for every record received, goes through WebCrypto, which is about ten
 * times faster here; imported public keys are cached per node.
 * @module
 */
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes, isHex } from "./hash.ts";

ed.hashes.sha512 = sha512;

/** A node's key pair: 32-byte seed, 32-byte public key, and its hex `node_id`. */
export interface KeyPair {
  seed: Uint8Array;
  publicKey: Uint8Array;
  nodeId: string;
}

/** Derive the key pair of a 32-byte Ed25519 seed. */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== 32) throw new RangeError("an Ed25519 seed is 32 bytes");
  const publicKey = ed.getPublicKey(seed);
  return { seed, publicKey, nodeId: bytesToHex(publicKey) };
}

/** Generate a fresh key pair from the system CSPRNG. */
export function generateKeyPair(): KeyPair {
  return keyPairFromSeed(crypto.getRandomValues(new Uint8Array(32)));
}

/** Sign `message` with `seed`, returning the lowercase hex signature. */
export function signHex(message: Uint8Array, seed: Uint8Array): string {
  return bytesToHex(ed.sign(message, seed));
}

const KEY_CACHE_MAX = 4096;
const keyCache = new Map<string, Promise<CryptoKey | null>>();

function importPublicKey(nodeId: string): Promise<CryptoKey | null> {
  let key = keyCache.get(nodeId);
  if (key) return key;
  let raw: Uint8Array;
  try {
    raw = hexToBytes(nodeId);
  } catch {
    return Promise.resolve(null);
  }
  key = crypto.subtle
    .importKey("raw", raw as Uint8Array<ArrayBuffer>, { name: "Ed25519" }, false, [
      "verify",
    ])
    .catch(() => null);
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(nodeId, key);
  return key;
}

/**
 * Verify a hex signature of `message` by the node whose hex public key is `nodeId`.
 * Malformed keys or signatures verify as false; never throws.
 */
export async function verifyHex(
  message: Uint8Array,
  signatureHex: string,
  nodeId: string,
): Promise<boolean> {
  if (signatureHex.length !== 128 || nodeId.length !== 64) return false;
  let signature: Uint8Array;
  try {
    signature = hexToBytes(signatureHex); // throws on non-hex
  } catch {
    return false;
  }
  const key = await importPublicKey(nodeId.toLowerCase());
  if (!key) return false;
  try {
    return await crypto.subtle.verify(
      "Ed25519",
      key,
      signature as Uint8Array<ArrayBuffer>,
      message as Uint8Array<ArrayBuffer>,
    );
  } catch {
    return false;
  }
}

/** Pure-JS verification, for environments or benchmarks without WebCrypto Ed25519. */
export function verifyHexSync(message: Uint8Array, signatureHex: string, nodeId: string): boolean {
  if (!isHex(signatureHex, 64) || !isHex(nodeId, 32)) return false;
  try {
    return ed.verify(hexToBytes(signatureHex), message, hexToBytes(nodeId));
  } catch {
    return false;
  }
}
