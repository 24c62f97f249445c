/**
 * Query and path parameters of the explorer API. Everything here is untrusted user input: a bad
 * value becomes an {@link ApiError} with status 400 and a message saying what is accepted.
 * @module
 */
import { isHex, type ResearchClass } from "../protocol/mod.ts";

/** An error the API answers as JSON `{error}` with an HTTP status (never a 500). */
export class ApiError extends Error {
  override name = "ApiError";
  /** HTTP status to answer with. */
  readonly status: 400 | 404 | 403 | 503;

  constructor(status: 400 | 404 | 403 | 503, message: string) {
    super(message);
    this.status = status;
  }
}

/** Default page size of list endpoints. */
export const DEFAULT_LIMIT = 50;
/** Largest page size any list endpoint returns; larger requests are capped to it. */
export const MAX_LIMIT = 1000;
/** Largest offset accepted (deep offsets cost a scan; past this, narrow the query instead). */
export const MAX_OFFSET = 10_000_000;
/** Longest search query accepted. */
export const MAX_QUERY_LENGTH = 256;
/** Longest GPU filter accepted. */
export const MAX_GPU_LENGTH = 64;

const INT_RE = /^\d{1,12}$/;

/**
 * Parse `limit`: absent means `def`; it must be a positive integer; values above `max` are
 * capped rather than refused, so scripts asking for "everything" still get a page.
 */
export function parseLimit(raw: string | undefined, def = DEFAULT_LIMIT, max = MAX_LIMIT): number {
  if (raw === undefined || raw === "") return def;
  if (!INT_RE.test(raw) || Number(raw) < 1) {
    throw new ApiError(400, `limit must be a positive integer (at most ${max} is returned)`);
  }
  return Math.min(Number(raw), max);
}

/** Parse `offset`: absent means 0; otherwise a non-negative integer up to {@link MAX_OFFSET}. */
export function parseOffset(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 0;
  if (!INT_RE.test(raw) || Number(raw) > MAX_OFFSET) {
    throw new ApiError(400, `offset must be an integer from 0 to ${MAX_OFFSET}`);
  }
  return Number(raw);
}

/** A content id or experiment id in a path: 64 lowercase hex characters. */
export function parseCid(raw: string | undefined, what = "cid"): string {
  if (!isHex(raw, 32)) throw new ApiError(400, `${what} must be 64 lowercase hex characters`);
  return raw;
}

/** A node id in a path: the 64-hex public key. */
export function parseNodeId(raw: string | undefined): string {
  if (!isHex(raw, 32)) {
    throw new ApiError(400, "node id must be 64 lowercase hex characters (an Ed25519 public key)");
  }
  return raw;
}

/** Optional GPU filter: absent or empty means every class. */
export function parseGpu(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const gpu = raw.trim();
  if (gpu === "") return undefined;
  if (gpu.length > MAX_GPU_LENGTH) {
    throw new ApiError(400, `gpu must be at most ${MAX_GPU_LENGTH} characters`);
  }
  return gpu;
}

/** Longest `class` filter accepted (dataset cid, a slash, prepare cid). */
export const MAX_CLASS_LENGTH = 256;

const CLASS_PART_RE = /^[A-Za-z0-9._-]{1,160}$/;

/**
 * Optional research-class filter `DATASET_CID/PREPARE_CID` (the protocol core's `classKey`;
 * val_bpb compares only within one dataset and one prepare.py): absent or empty means every class.
 */
export function parseResearchClass(raw: string | undefined): ResearchClass | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const text = raw.trim();
  const slash = text.lastIndexOf("/");
  const datasetCid = text.slice(0, slash);
  const prepareCid = text.slice(slash + 1);
  if (
    text.length > MAX_CLASS_LENGTH || slash < 0 || !CLASS_PART_RE.test(datasetCid) ||
    !CLASS_PART_RE.test(prepareCid)
  ) {
    throw new ApiError(
      400,
      "class must be DATASET_CID/PREPARE_CID (letters, digits, '.', '_', '-'; " +
        `at most ${MAX_CLASS_LENGTH} characters)`,
    );
  }
  return { datasetCid, prepareCid };
}

/** Required search text: 1 to {@link MAX_QUERY_LENGTH} characters after trimming. */
export function parseQuery(raw: string | undefined): string {
  const q = (raw ?? "").trim();
  if (q === "") throw new ApiError(400, "q must be a non-empty search text");
  if (q.length > MAX_QUERY_LENGTH) {
    throw new ApiError(400, `q must be at most ${MAX_QUERY_LENGTH} characters`);
  }
  return q;
}

/** A parameter restricted to a fixed set of words; absent means the first one. */
export function parseChoice<T extends string>(
  raw: string | undefined,
  name: string,
  choices: readonly [T, ...T[]],
): T {
  if (raw === undefined || raw === "") return choices[0];
  if (!(choices as readonly string[]).includes(raw)) {
    throw new ApiError(400, `${name} must be one of ${choices.join(", ")}`);
  }
  return raw as T;
}
