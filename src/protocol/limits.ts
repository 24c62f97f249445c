/**
 * Size bounds on untrusted wire data, checked before anything is canonicalized, stored or relayed
 * (docs/LIMITS.md lists them with their reasons). Every record and control event the Python
 * network produces fits well inside them.
 * @module
 */

/**
 * Largest canonical record payload (PROTOCOL.md section 2 bytes). The records in
 * tests/fixtures/protocol-vectors.json are 603 to 1,334 canonical bytes; the biggest a node can
 * honestly make carries a diff that rewrites a whole `train.py`: the workspace's is 12,018 bytes
 * (a full rewrite is about 25 KB of diff), and our own proposer refuses files over 200,000
 * characters (`MAX_CODE_CHARS`), whose full-rewrite diff stays under 420 KB. 1 MiB keeps more than
 * twice that margin, and is a tenth of the frame cap.
 */
export const MAX_RECORD_BYTES = 1024 * 1024;

/**
 * Longest value (UTF-16 code units) of each text field of a record. `diff`: see
 * {@link MAX_RECORD_BYTES}. Prose fields: the fixture vectors' longest is 600 characters and our
 * own proposer writes at most 300 (description) and 800 (hypothesis). Identifiers, versions and
 * GPU names are tens of characters (`NVIDIA_H100_80GB_HBM3`, `2.5.1+cu124`).
 */
export const RECORD_TEXT_LIMITS: Readonly<Record<string, number>> = {
  diff: 512 * 1024,
  description: 16 * 1024,
  hypothesis: 16 * 1024,
  id: 64,
  parent: 64,
  node_id: 64,
  signature: 128,
  code_cid: 256,
  dataset_cid: 256,
  prepare_cid: 256,
  agent_model: 256,
  gpu_model: 256,
  cuda_version: 256,
  torch_version: 256,
};

/**
 * Largest frame body of an `experiment` message: a maximal record plus its envelope, with room
 * for Python's `indent=2` layout (a few bytes per field) and escapes written differently.
 */
export const MAX_RECORD_FRAME_BYTES = MAX_RECORD_BYTES + 64 * 1024;

/**
 * Largest frame body of a control event (`challenge`, `challenge_response`, `verification`,
 * `dispute`). The biggest the Python network sends is a `challenge_response` of about 400 bytes;
 * ours add `signer` and `sig` (200 more).
 */
export const MAX_CONTROL_BYTES = 16 * 1024;

/** Most keys in a control payload: the largest schema has 8, our signing extension adds 2. */
export const MAX_CONTROL_KEYS = 32;

/** Largest frame body of a `profile` (its text fields total under 2.1 KB, section 4). */
export const MAX_PROFILE_FRAME_BYTES = 64 * 1024;

/**
 * Most JSON structure tokens (`{`, `[`, `,`, `:` outside strings) in any frame body, counted
 * before `JSON.parse`. A record has about 50, a full `pex_response` about 400; a frame of a
 * million keys or array items would cost the parser hundreds of MB of heap (a 8.8 MB `challenge`
 * with 1,000,000 keys took 70 MB) and is refused without being parsed.
 */
export const MAX_JSON_TOKENS = 16_384;

/** {@link RECORD_TEXT_LIMITS} as pairs, listed once rather than on every record checked. */
const TEXT_LIMITS = Object.entries(RECORD_TEXT_LIMITS);

/**
 * Why a record's text fields exceed {@link RECORD_TEXT_LIMITS}, or null. Call after the shape
 * check (fields are strings or null).
 */
export function recordTextTooLong(rec: Readonly<Record<string, unknown>>): string | null {
  for (const [field, max] of TEXT_LIMITS) {
    const v = rec[field];
    if (typeof v === "string" && v.length > max) {
      return `record too large: field "${field}" has ${v.length} characters (limit ${max})`;
    }
  }
  return null;
}

/** Why a signed payload of `canonicalBytes` bytes is refused (over `max`), or null. */
export function recordBytesTooMany(
  canonicalBytes: number,
  max = MAX_RECORD_BYTES,
): string | null {
  return canonicalBytes > max
    ? `record too large: ${canonicalBytes} canonical bytes (limit ${max})`
    : null;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Count JSON structure tokens outside strings in a UTF-8 body, stopping past `max`. Returns the
 * count (at most `max + 1`). A linear byte scan: about 10 ms for a 10 MiB body, 2 us for a record.
 */
export function countJsonTokens(body: Uint8Array, max = MAX_JSON_TOKENS): number {
  let n = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const b = body[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (b === 0x7b || b === 0x5b || b === 0x2c || b === 0x3a) {
      if (++n > max) return n;
    }
  }
  return n;
}
