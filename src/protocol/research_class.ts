/**
 * Research classes (PROTOCOL.md section 7): the pair (`dataset_cid`, `prepare_cid`). val_bpb is only
 * comparable within one class and one GPU class, so parents, reruns and frontiers are always taken
 * within a class. Pure: naming and matching only; which classes are "ours" is decided at the edges.
 * @module
 */
import { shortId } from "./short_id.ts";
import type { ExperimentRecord } from "./types.ts";

/** The data (`dataset_cid`) and harness (`prepare_cid` = sha256 of prepare.py) of a record. */
export interface ResearchClass {
  datasetCid: string;
  prepareCid: string;
}

/** A class with a readable name (the embedded workspace's). */
export interface NamedClass {
  name: string;
  prepareCid: string;
  /** Absent: every dataset of this prepare.py carries the name. */
  datasetCid?: string;
}

/** Longest `dataset_cid` a user may give (`--dataset-cid`, config): a sha256 hex is 64. */
export const MAX_DATASET_CID_CHARS = 128;

/** The class of a record. */
export function classOf(r: Pick<ExperimentRecord, "dataset_cid" | "prepare_cid">): ResearchClass {
  return { datasetCid: r.dataset_cid, prepareCid: r.prepare_cid };
}

/** True when `r` was measured in class `c`. */
export function inClass(
  r: Pick<ExperimentRecord, "dataset_cid" | "prepare_cid">,
  c: ResearchClass,
): boolean {
  return r.dataset_cid === c.datasetCid && r.prepare_cid === c.prepareCid;
}

/** A stable key for maps and JSON: `dataset_cid/prepare_cid`. */
export function classKey(c: ResearchClass): string {
  return `${c.datasetCid}/${c.prepareCid}`;
}

const HEX64 = /^[0-9a-f]{64}$/;
const PRINTABLE = /^[\x21-\x7e]+$/;

/** A cid for display: hex digests shortened to 12, other names kept (bounded, printable only). */
function shortCid(cid: string): string {
  if (HEX64.test(cid)) return shortId(cid);
  if (cid === "") return "(none)";
  const clean = PRINTABLE.test(cid) ? cid : cid.replace(/[^\x21-\x7e]/g, "?");
  return clean.length > 40 ? `${clean.slice(0, 40)}...` : clean;
}

/** The name of a class: a named class's name, else `dataset_cid` and a short `prepare_cid`. */
export function classLabel(c: ResearchClass, named: readonly NamedClass[] = []): string {
  const hit = named.find((n) =>
    n.prepareCid === c.prepareCid && (n.datasetCid === undefined || n.datasetCid === c.datasetCid)
  );
  if (hit) return hit.name;
  return `${shortCid(c.datasetCid)}/${shortCid(c.prepareCid)}`;
}

/**
 * Whether class `c` matches a `--class` filter: a class name (as {@link classLabel} prints it),
 * `DATASET/PREPARE_PREFIX`, a `dataset_cid`, or a `prepare_cid` prefix of at least 8 characters.
 */
export function matchesClassFilter(
  c: ResearchClass,
  filter: string,
  named: readonly NamedClass[] = [],
): boolean {
  const f = filter.trim();
  if (f === "") return true;
  if (f === classLabel(c, named)) return true;
  const slash = f.lastIndexOf("/");
  if (slash > 0) {
    const [d, p] = [f.slice(0, slash), f.slice(slash + 1).toLowerCase()];
    return (d === c.datasetCid || d === shortCid(c.datasetCid)) && p.length > 0 &&
      c.prepareCid.startsWith(p);
  }
  return f === c.datasetCid || (f.length >= 8 && c.prepareCid.startsWith(f.toLowerCase()));
}

/**
 * Check a user-given `dataset_cid` (flag or config); returns the problem or null. Records carry
 * it verbatim, so it must be short and printable; the Python network uses
 * `climbmix-400b-shuffle`.
 */
export function datasetCidProblem(cid: string): string | null {
  if (cid === "") return "is empty";
  if (cid.length > MAX_DATASET_CID_CHARS) {
    return `is ${cid.length} characters; the limit is ${MAX_DATASET_CID_CHARS}`;
  }
  if (!PRINTABLE.test(cid)) return "must be printable ASCII without spaces";
  return null;
}
