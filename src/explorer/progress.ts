/**
 * `GET /api/progress`: val_bpb of every experiment of one research class and GPU class over time,
 * with the running best, for the dashboard's progress chart (autoresearch's `progress.png`).
 *
 * A graph can hold a million records and the node runs in a 128 MB heap, so the answer is built
 * from a bounded, incrementally maintained series per filter rather than a scan per request:
 * - each series reads the records stored since its cursor (`seq` order, a cheap index walk)
 *   and keeps a systematic sample: every `stride`-th record of its class, the stride doubling
 *   (and the sample halving) whenever the sample outgrows {@link MAX_PROGRESS_POINTS};
 * - the running best is kept exactly as its steps (records that beat every earlier one by
 *   timestamp), correct for records arriving out of time order; at most {@link MAX_BEST_STEPS}
 *   steps are kept, thinned evenly beyond that (the line is then drawn from every other step);
 * - at most {@link MAX_SERIES} filters are kept, least recently used dropped first.
 * The first request for a filter reads the whole graph once, {@link CATCH_UP_ROWS} rows per
 * request at most (the answer says `complete: false` until it has caught up).
 * @module
 */
import { classKey, normalizeGpuClass, type ResearchClass } from "../protocol/mod.ts";
import type { GraphStore, ProgressRow } from "../store/mod.ts";

/** Most sampled points kept and returned per filter (the running-best steps come on top). */
export const MAX_PROGRESS_POINTS = 1500;
/** Most running-best steps kept per filter. */
export const MAX_BEST_STEPS = 500;
/** Filters with a series kept in memory (each is about 300 KB at most). */
export const MAX_SERIES = 8;
/**
 * Rows one request reads to catch a series up, so a first request at a million records is never
 * one long stall of the node's event loop: 200,000 took 2-9 s on the shared 2-core machine
 * (scripts/bench/explorer.ts), 50,000 keeps one request near a second there.
 */
export const CATCH_UP_ROWS = 50_000;
/** Characters of description returned per point (the hover text; the page has the rest). */
export const POINT_DESCRIPTION_CHARS = 120;

/** What a chart is drawn for: one research class (dataset and prepare.py) and one GPU class. */
export interface ProgressFilter {
  /** Normalized GPU class; absent means every class. */
  gpu?: string | undefined;
  /** Research class; absent means every class. */
  researchClass?: ResearchClass | undefined;
}

/** One point of the chart. */
export interface ProgressPoint {
  id: string;
  timestamp: number;
  /** null for a crash (its stored value means nothing). */
  val_bpb: number | null;
  status: string;
  node_id: string;
  /** Best val_bpb of the class up to this point's timestamp (null before the first result). */
  best: number | null;
  /** 1-based number of the record in its class, in the order this node stored them. */
  n: number;
  /** val_bpb minus the parent's (null for a crash, a root, or a parent not stored here). */
  delta: number | null;
  description: string;
}

/** The `/api/progress` body. */
export interface ProgressBody {
  points: ProgressPoint[];
  /** Records of the class (all statuses); more than `points.length` when downsampled. */
  total: number;
  counts: { keep: number; discard: number; crash: number };
  downsampled: boolean;
  /** False while the series is still reading the graph (ask again). */
  complete: boolean;
  gpu: string | null;
  class: string | null;
}

interface Sample {
  id: string;
  timestamp: number;
  valBpb: number;
  status: string;
  nodeId: string;
  n: number;
  /** Hover text and delta, read once per point (random reads are most of a request's cost). */
  detail?: { description: string; delta: number | null };
  /** True once `detail` cannot change (the parent, if any, was found). */
  final?: boolean;
}

/** Bounded, incrementally maintained progress of one filter. */
class Series {
  cursor = 0;
  total = 0;
  readonly counts = { keep: 0, discard: 0, crash: 0 };
  stride = 1;
  /** Changes whenever the answer would: the last body is reused until then. */
  version = 0;
  cached: { version: number; body: ProgressBody; json?: string } | undefined;
  sample: Sample[] = [];
  /** Running-best records, oldest first; val_bpb strictly decreasing. */
  steps: Sample[] = [];
  readonly #gpu: string | undefined;
  readonly #cls: ProgressFilter["researchClass"];

  constructor(filter: ProgressFilter) {
    this.#gpu = filter.gpu;
    this.#cls = filter.researchClass;
  }

  /** Read up to `budget` new rows; true when the series has caught up with the store. */
  catchUp(graph: GraphStore, budget: number): boolean {
    // Rows are written by another thread too: read up to a fixed end, so the cursor can move to
    // it even when none of the rows belong to this series. Seq numbers are dense, so a window
    // of `budget` seqs scans at most `budget` rows whatever the filter keeps.
    const latest = graph.maxSeq();
    const end = Math.min(latest, this.cursor + budget);
    for (;;) {
      const rows = graph.progressRows(this.cursor, end, 5000, this.#gpu);
      for (const row of rows) this.#add(row);
      const last = rows.at(-1);
      if (last === undefined || rows.length < 5000) break;
      this.cursor = last[0];
    }
    this.cursor = end;
    return end >= latest;
  }

  #add(row: ProgressRow): void {
    const [, id, timestamp, valBpb, status, nodeId, , datasetCid, prepareCid] = row;
    if (
      this.#cls && (datasetCid !== this.#cls.datasetCid || prepareCid !== this.#cls.prepareCid)
    ) return;
    const n = ++this.total;
    this.version++;
    if (status === "keep" || status === "discard" || status === "crash") this.counts[status]++;
    const point = { id, timestamp, valBpb, status, nodeId, n };
    if (status !== "crash" && Number.isFinite(valBpb)) this.#step(point);
    if ((n - 1) % this.stride !== 0) return;
    this.sample.push(point);
    if (this.sample.length > MAX_PROGRESS_POINTS) {
      this.stride *= 2;
      this.sample = this.sample.filter((p) => (p.n - 1) % this.stride === 0);
    }
  }

  /** Insert `p` into the running best when it beats everything before its timestamp. */
  #step(p: Sample): void {
    const steps = this.steps;
    const lo = stepsBefore(steps, p.timestamp, p.id, false);
    const before = steps[lo - 1]; // undefined when lo is 0
    if (before !== undefined && before.valBpb <= p.valBpb) return;
    let end = lo;
    while (end < steps.length && steps[end]!.valBpb >= p.valBpb) end++;
    steps.splice(lo, end - lo, p);
    if (steps.length > MAX_BEST_STEPS) {
      // Keep the latest (current best) and every other earlier step.
      const last = steps.at(-1)!; // not empty: p was just inserted
      this.steps = steps.filter((_, i) => i % 2 === 0);
      if (this.steps.at(-1) !== last) this.steps.push(last);
    }
  }

  /** Best val_bpb at or before `timestamp` (null before the first result). */
  bestAt(timestamp: number, id: string): number | null {
    const lo = stepsBefore(this.steps, timestamp, id, true);
    return lo > 0 ? this.steps[lo - 1]!.valBpb : null;
  }
}

/**
 * How many of `steps` (ordered by timestamp, then id) come before (`timestamp`, `id`), counting
 * one equal to it when `inclusive`.
 */
function stepsBefore(
  steps: readonly Sample[],
  timestamp: number,
  id: string,
  inclusive: boolean,
): number {
  let lo = 0;
  let hi = steps.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const s = steps[mid]!;
    const before = s.timestamp < timestamp ||
      (s.timestamp === timestamp && (s.id < id || (inclusive && s.id === id)));
    if (before) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Serves `/api/progress` from bounded series over one graph store. */
export class ProgressIndex {
  readonly #graph: GraphStore;
  readonly #series = new Map<string, Series>();
  /** The series the last query used (for {@link ProgressIndex.json}). */
  #last: Series | undefined;

  constructor(graph: GraphStore) {
    this.#graph = graph;
  }

  /** {@link ProgressIndex.query} as JSON text, serialized once per change of the series. */
  json(filter: ProgressFilter): string {
    const body = this.query(filter);
    const cached = this.#last?.cached;
    if (cached?.body !== body) return JSON.stringify(body);
    cached.json ??= JSON.stringify(body);
    return cached.json;
  }

  /** The chart's points for `filter`, sampled, in time order. */
  query(filter: ProgressFilter): ProgressBody {
    const gpu = filter.gpu === undefined ? undefined : normalizeGpuClass(filter.gpu);
    const cls = filter.researchClass;
    const key = `${gpu ?? "*"}\n${cls ? `${cls.datasetCid}\n${cls.prepareCid}` : "*"}`;
    let series = this.#series.get(key);
    if (series) this.#series.delete(key); // re-inserted below as the most recent
    series ??= new Series({ gpu, researchClass: cls });
    this.#series.set(key, series);
    this.#last = series;
    while (this.#series.size > MAX_SERIES) {
      this.#series.delete(this.#series.keys().next().value!);
    }
    const complete = series.catchUp(this.#graph, CATCH_UP_ROWS);
    if (series.cached?.version === series.version && complete) return series.cached.body;
    const byId = new Map<string, Sample>();
    for (const p of series.sample) byId.set(p.id, p);
    for (const p of series.steps) byId.set(p.id, p);
    const chosen = [...byId.values()].sort((a, b) =>
      a.timestamp - b.timestamp || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    );
    const waiting = this.#describe(chosen.filter((p) => !p.final));
    const points = chosen.map((p): ProgressPoint => ({
      id: p.id,
      timestamp: p.timestamp,
      val_bpb: p.status === "crash" ? null : p.valBpb,
      status: p.status,
      node_id: p.nodeId,
      best: series.bestAt(p.timestamp, p.id),
      n: p.n,
      delta: p.detail?.delta ?? null,
      description: p.detail?.description ?? "",
    }));
    const body: ProgressBody = {
      points,
      total: series.total,
      counts: { ...series.counts },
      downsampled: series.stride > 1,
      complete,
      gpu: gpu ?? null,
      class: cls ? classKey(cls) : null,
    };
    // Reused until a record arrives, unless a point still waits for its parent's result.
    series.cached = waiting ? undefined : { version: series.version, body };
    return body;
  }

  /**
   * Read description and delta of points that have none yet. A point whose parent has not
   * arrived is asked again next time (its delta may appear).
   */
  #describe(points: Sample[]): boolean {
    if (points.length === 0) return false;
    const details = this.#graph.progressDetails(points.map((p) => p.id), POINT_DESCRIPTION_CHARS);
    for (const p of points) {
      const d = details.get(p.id);
      if (!d) continue;
      const parentKnown = !d.hasParent || d.parentValBpb !== null;
      const comparable = p.status !== "crash" && d.parentValBpb !== null &&
        d.parentStatus !== "crash";
      p.detail = {
        description: d.description,
        delta: comparable ? p.valBpb - d.parentValBpb! : null,
      };
      p.final = parentKnown;
    }
    // A point still waiting for its parent keeps the answer from being reused.
    return points.some((p) => !p.final);
  }
}
