/** Loads the Python implementation's protocol vectors (shared/vectors/protocol-vectors.json). */
import type { ExperimentRecord, NodeProfile } from "../../src/protocol/types.ts";

/** Shape of the vector file. */
export interface Vectors {
  keys: { node_id: string; seed_hex: string; private_key_hex: string }[];
  records: {
    canonical: string;
    cid: string;
    signature: string;
    valid: boolean;
    wire: ExperimentRecord;
  }[];
  profiles: { canonical: string; id: string; signature: string; wire: NodeProfile }[];
  invalid_records: { why: string; wire: Record<string, unknown> }[];
}

const candidates = [
  new URL("../../../shared/vectors/protocol-vectors.json", import.meta.url),
  new URL("../../shared/vectors/protocol-vectors.json", import.meta.url),
];

function locate(): string {
  for (const url of candidates) {
    try {
      Deno.statSync(url);
      return url.pathname;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  throw new Error("protocol-vectors.json not found: expected ../shared/vectors/ beside the repo");
}

/** Filesystem path of the vector file. */
export const vectorsPath: string = locate();

/** The parsed vectors (throws if the file is missing: the tests must not pass without them). */
export const vectors: Vectors = JSON.parse(Deno.readTextFileSync(vectorsPath));

/** The rejection reason of a validation result, or "" when it passed. */
export function reasonOf(r: { ok: true } | { ok: false; reason: string }): string {
  return r.ok ? "" : r.reason;
}
