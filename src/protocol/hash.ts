/**
 * SHA-256 and hex helpers. Hashing uses Deno's native `node:crypto` (synchronous, far faster than
 * a pure-JS digest on the per-record hot path).
 * @module
 */
import { createHash } from "node:crypto";

const encoder = new TextEncoder();

/** Lowercase hex SHA-256 of bytes, or of a string's UTF-8 encoding. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(typeof data === "string" ? encoder.encode(data) : data)
    .digest("hex");
}

const HEX_RE = /^[0-9a-f]*$/;

/** True when `s` is lowercase hex of exactly `bytes` bytes. */
export function isHex(s: unknown, bytes: number): s is string {
  return typeof s === "string" && s.length === bytes * 2 && HEX_RE.test(s);
}

/** Decode lowercase or uppercase hex; throws on odd length or non-hex characters. */
export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError("invalid hex string");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Lowercase hex of bytes. */
export function bytesToHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
