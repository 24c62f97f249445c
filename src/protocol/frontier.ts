/**
 * The frontier rule shared with the Python network (PROTOCOL.md section 7).
 * @module
 */
import type { ExperimentRecord } from "./types.ts";

/** Frontier membership by definition: a keep with no keep child of strictly lower val_bpb. */
export function isOnFrontier(
  rec: ExperimentRecord,
  children: readonly ExperimentRecord[],
): boolean {
  return rec.status === "keep" &&
    !children.some((c) => c.status === "keep" && c.val_bpb < rec.val_bpb);
}
