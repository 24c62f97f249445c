/**
 * Views of the experiment DAG for `/api/graph` and the experiment page. A graph of 100,000
 * records cannot be drawn or shipped at once, so the default view is bounded: the best frontier
 * records with their lineages, plus the newest records.
 * @module
 */
import type { ExperimentRecord } from "../protocol/mod.ts";
import type { GraphStore } from "../store/mod.ts";

/** An edge from parent (`source`) to child (`target`). */
export interface Edge {
  source: string;
  target: string;
}

/** Records, their edges and which of them are on the frontier. */
export interface GraphSlice {
  records: ExperimentRecord[];
  edges: Edge[];
  frontierIds: string[];
  /** True when the view left records out (more frontier, deeper lineage, older records). */
  truncated: boolean;
}

/** Bounds of the default view. */
export interface BoundedViewLimits {
  /** Frontier records whose lineage is drawn, best first. */
  frontier: number;
  /** Newest records added. */
  recent: number;
  /** Most records in the view in all. */
  maxNodes: number;
}

/** Defaults chosen so the page lays the DAG out well within its 3 s budget. */
export const DEFAULT_BOUNDS: BoundedViewLimits = { frontier: 50, recent: 120, maxNodes: 600 };

/**
 * Bounded view: the `frontier` best frontier records (of one GPU class when given), each
 * lineage walked up until it meets a record already in the view, plus the newest records.
 */
export function boundedView(
  graph: GraphStore,
  gpu: string | undefined,
  bounds: BoundedViewLimits = DEFAULT_BOUNDS,
): GraphSlice {
  const byId = new Map<string, ExperimentRecord>();
  const frontier = graph.frontier(gpu, bounds.frontier + 1);
  let truncated = frontier.length > bounds.frontier;
  const shownFrontier = frontier.slice(0, bounds.frontier);
  for (const rec of shownFrontier) byId.set(rec.id, rec);
  // Recent records go in before lineages so the cap never starves the live end of the graph.
  for (const rec of graph.recent(bounds.recent)) {
    if (byId.size >= bounds.maxNodes) break;
    byId.set(rec.id, rec);
  }
  const recent = [...byId.values()].slice(shownFrontier.length);
  // Full lineages for the frontier, then a few generations above the newest records, so they
  // hang off the tree instead of floating as disconnected roots.
  const walks: [ExperimentRecord[], number][] = [[shownFrontier, Infinity], [recent, 3]];
  for (const [starts, depth] of walks) {
    for (const rec of starts) {
      if (!climb(graph, rec, depth, byId, bounds.maxNodes)) {
        truncated = true;
        break;
      }
    }
  }
  if (graph.count() > byId.size) truncated = true;
  const records = [...byId.values()];
  return {
    records,
    edges: edgesWithin(records, byId),
    frontierIds: shownFrontier.map((r) => r.id),
    truncated,
  };
}

/**
 * One page of every record, newest first, for clients that want the whole graph. Edges point
 * at parents that may be on another page; frontier ids are those on this page.
 */
export function fullPage(
  graph: GraphStore,
  limit: number,
  offset: number,
  frontierCap: number,
): GraphSlice {
  const records = graph.recent(limit + 1, offset);
  const truncated = records.length > limit;
  const page = records.slice(0, limit);
  const frontier = new Set(graph.frontier(undefined, frontierCap).map((r) => r.id));
  return {
    records: page,
    edges: page.filter((r) => r.parent !== null).map((r) => ({ source: r.parent!, target: r.id })),
    frontierIds: page.filter((r) => frontier.has(r.id)).map((r) => r.id),
    truncated,
  };
}

/**
 * Add up to `depth` ancestors of `rec` to `byId`, stopping at one already there or not stored.
 * Returns false when the node cap stopped the walk.
 */
function climb(
  graph: GraphStore,
  rec: ExperimentRecord,
  depth: number,
  byId: Map<string, ExperimentRecord>,
  maxNodes: number,
): boolean {
  let parent = rec.parent;
  for (let step = 0; step < depth && parent !== null && !byId.has(parent); step++) {
    if (byId.size >= maxNodes) return false;
    const up = graph.get(parent);
    if (!up) break; // the parent has not arrived yet
    byId.set(up.id, up);
    parent = up.parent;
  }
  return true;
}

/** Parent-to-child edges whose two ends are both in the view. */
function edgesWithin(records: readonly ExperimentRecord[], byId: Map<string, unknown>): Edge[] {
  const edges: Edge[] = [];
  for (const r of records) {
    if (r.parent !== null && byId.has(r.parent)) edges.push({ source: r.parent, target: r.id });
  }
  return edges;
}

/**
 * Ancestors of `id`, nearest first, at most `limit` after skipping `offset`. Stops at a parent
 * that has not arrived and never loops, whatever the stored parent links say.
 */
export function lineage(
  graph: GraphStore,
  start: ExperimentRecord,
  limit: number,
  offset = 0,
): ExperimentRecord[] {
  const out: ExperimentRecord[] = [];
  const seen = new Set<string>([start.id]);
  let parent = start.parent;
  let skipped = 0;
  while (parent !== null && !seen.has(parent) && out.length < limit) {
    seen.add(parent);
    const rec = graph.get(parent);
    if (!rec) break;
    if (skipped < offset) skipped++;
    else out.push(rec);
    parent = rec.parent;
  }
  return out;
}
