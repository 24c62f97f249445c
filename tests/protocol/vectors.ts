/** Loads the Python implementation's protocol vectors (tests/fixtures/protocol-vectors.json). */
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

/** Filesystem path of the vector file (an in-repo fixture: the repository stands alone). */
export const vectorsPath: string = new URL("../fixtures/protocol-vectors.json", import.meta.url)
  .pathname;

/** The parsed vectors (throws if the file is missing: the tests must not pass without them). */
export const vectors: Vectors = JSON.parse(Deno.readTextFileSync(vectorsPath));

/** The rejection reason of a validation result, or "" when it passed. */
export function reasonOf(r: { ok: true } | { ok: false; reason: string }): string {
  return r.ok ? "" : r.reason;
}
