/**
 * Shapes the explorer sends (PROTOCOL.md section 10): wire records plus the publisher's display
 * name, reputation rows plus theirs. Display names are untrusted text; the UI never renders
 * them as HTML.
 * @module
 */
import { type ExperimentRecord, normalizeGpuClass } from "../protocol/mod.ts";
import type { ProfileStore, ReputationRow } from "../store/mod.ts";

/**
 * A record as the API returns it: the wire record, the publisher's display name when a profile
 * exists, and the normalized GPU class (so pages group results the way the node compares them).
 */
export type RecordView = ExperimentRecord & { node_display_name?: string; gpu_class: string };

/** A record reduced for graph drawing: no diff, hypothesis or build details. */
export type RecordSummary =
  & Pick<
    ExperimentRecord,
    | "id"
    | "parent"
    | "depth"
    | "val_bpb"
    | "status"
    | "description"
    | "gpu_model"
    | "node_id"
    | "timestamp"
  >
  & { node_display_name?: string; gpu_class: string };

/** A leaderboard row: the reputation row plus the node's display name (null without a profile). */
export type LeaderboardRow = ReputationRow & { display_name: string | null };

/** Attach display names (one profile lookup per distinct publisher) and GPU classes. */
export function withNames(
  records: readonly ExperimentRecord[],
  profiles: ProfileStore,
): RecordView[] {
  const names = profiles.displayNames(new Set(records.map((r) => r.node_id)));
  const classes = new Map<string, string>();
  return records.map((r) => {
    let gpuClass = classes.get(r.gpu_model);
    if (gpuClass === undefined) {
      gpuClass = normalizeGpuClass(r.gpu_model);
      classes.set(r.gpu_model, gpuClass);
    }
    const name = names.get(r.node_id);
    return name === undefined
      ? { ...r, gpu_class: gpuClass }
      : { ...r, node_display_name: name, gpu_class: gpuClass };
  });
}

/**
 * Longest text a list endpoint sends per field (characters). A record may carry up to 512 KiB
 * of diff and 16 KiB of prose (docs/LIMITS.md); a list of a thousand such records would be
 * hundreds of MB. Most diffs the network makes are a few KB and fit whole; the experiment page
 * (`/api/experiment/:cid`) always sends everything.
 */
export const LIST_TEXT_LIMITS = { diff: 8 * 1024, description: 1024, hypothesis: 2048 } as const;

/** A record in a list: long text fields cut, and `truncated` naming the fields that were. */
export type ListedRecord = RecordView & { truncated?: string[] };

/** Cut `rec`'s long text fields to {@link LIST_TEXT_LIMITS} for a list response. */
export function forList(rec: RecordView): ListedRecord {
  let out: ListedRecord | undefined;
  for (const [field, max] of Object.entries(LIST_TEXT_LIMITS)) {
    const key = field as keyof typeof LIST_TEXT_LIMITS;
    const text = rec[key];
    if (text.length <= max) continue;
    out ??= { ...rec, truncated: [] };
    out[key] = text.slice(0, max - 1) + "…";
    out.truncated!.push(field);
  }
  return out ?? rec;
}

/** {@link withNames} for list responses: every record cut by {@link forList}. */
export function listed(
  records: readonly ExperimentRecord[],
  profiles: ProfileStore,
): ListedRecord[] {
  return withNames(records, profiles).map(forList);
}

/** The fields the DAG needs, so a graph of a thousand nodes stays a small response. */
export function summarize(rec: RecordView): RecordSummary {
  const out: RecordSummary = {
    id: rec.id,
    parent: rec.parent,
    depth: rec.depth,
    val_bpb: rec.val_bpb,
    status: rec.status,
    description: forList(rec).description,
    gpu_model: rec.gpu_model,
    node_id: rec.node_id,
    timestamp: rec.timestamp,
    gpu_class: rec.gpu_class,
  };
  if (rec.node_display_name !== undefined) out.node_display_name = rec.node_display_name;
  return out;
}

/** Leaderboard rows with display names. */
export function leaderboardRows(
  rows: readonly ReputationRow[],
  profiles: ProfileStore,
): LeaderboardRow[] {
  const names = profiles.displayNames(rows.map((r) => r.node_id));
  return rows.map((r) => ({ ...r, display_name: names.get(r.node_id) ?? null }));
}
