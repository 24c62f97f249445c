/**
 * The REST API under `/api` (issue 5, PROTOCOL.md section 10). Paths match the Python explorer.
 * Lists are JSON arrays paged with `limit` (capped at {@link MAX_LIMIT}) and `offset`; the
 * `X-Next-Offset` header gives the next page's offset when there may be one.
 * Bad parameters answer 400 and unknown ids 404, both as `{error}`.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { Buffer } from "node:buffer";
import {
  classKey,
  classLabel,
  type ExperimentRecord,
  isOnFrontier,
  shortId,
} from "../protocol/mod.ts";
import { embeddedClasses } from "../training/research_workspace.ts";
import type { NodeHandle } from "../node_types.ts";
import type { Stores } from "../store/mod.ts";
import { VERSION } from "../version.ts";
import { boundedView, fullPage, lineage } from "./graph_view.ts";
import {
  ApiError,
  MAX_LIMIT,
  parseChoice,
  parseCid,
  parseGpu,
  parseLimit,
  parseNodeId,
  parseOffset,
  parseQuery,
  parseResearchClass,
} from "./params.ts";
import { forList, leaderboardRows, listed, summarize, withNames } from "./present.ts";
import { ProgressIndex } from "./progress.ts";
import { experimentVerification } from "../verify/mod.ts";

/** How long `/api/artifact/:cid` waits for peers before answering 404. */
export const ARTIFACT_FETCH_TIMEOUT_MS = 15_000;
/** Deepest lineage position `/ancestor` walks to (offset + limit). */
export const MAX_LINEAGE = 100_000;
/** Most control events listed on one experiment. */
const MAX_EVENTS = 500;
/** Most profiles scanned when searching display names. */
const MAX_PROFILE_SCAN = 10_000;

/** What the API reads besides the node: the live client count for `/api/stat`. */
export interface ApiContext {
  wsClients(): number;
}

/** Build the `/api` routes over a node. */
export function apiRoutes(node: NodeHandle, ctx: ApiContext): Hono {
  const api = new Hono();
  const { graph, profiles, reputation } = node.stores;

  api.get("/stat", (c) => {
    const s = graph.stats();
    return c.json({
      experiment_count: s.count,
      frontier_size: s.frontierSize,
      best_val_bpb: s.bestValBpb,
      peer_count: node.peers().length,
      // Why there are no peers, for the header's warning (null without a network of our own).
      network: node.networkStatus?.() ?? null,
      node_id: node.nodeId,
      ws_client: ctx.wsClients(),
      node_count: s.nodes,
      version: VERSION,
    });
  });

  api.get("/graph", (c) => {
    const view = parseChoice(c.req.query("view"), "view", ["bounded", "full"] as const);
    const fields = parseChoice(c.req.query("fields"), "fields", ["all", "summary"] as const);
    const gpu = parseGpu(c.req.query("gpu"));
    let slice;
    if (view === "full") {
      if (gpu !== undefined) throw new ApiError(400, "gpu applies to the bounded view only");
      const limit = parseLimit(c.req.query("limit"), MAX_LIMIT);
      const offset = parseOffset(c.req.query("offset"));
      slice = fullPage(graph, limit, offset, 10_000);
      if (slice.truncated) c.header("X-Next-Offset", String(offset + limit));
    } else {
      slice = boundedView(graph, gpu);
    }
    const records = withNames(slice.records, profiles);
    return c.json({
      node: fields === "summary" ? records.map(summarize) : records.map(forList),
      edge: slice.edges,
      frontier_id: slice.frontierIds,
      view,
      truncated: slice.truncated,
    });
  });

  const progress = new ProgressIndex(graph);
  api.get("/progress", (c) => {
    const json = progress.json({
      gpu: parseGpu(c.req.query("gpu")),
      researchClass: parseResearchClass(c.req.query("class")),
    });
    return c.body(json, 200, { "Content-Type": "application/json" });
  });

  api.get("/frontier", (c) => {
    const gpu = parseGpu(c.req.query("gpu"));
    const cls = parseResearchClass(c.req.query("class"));
    const { limit, offset } = page(c);
    const n = Math.min(offset + limit + 1, 10_000);
    const rows = cls ? graph.frontierOfClass(cls, gpu, n) : graph.frontier(gpu, n);
    return list(c, listed(rows.slice(offset, offset + limit), profiles), rows, offset, limit);
  });

  // Research classes (PROTOCOL.md section 7), largest first, named where we know the name.
  const named = embeddedClasses().catch(() => []);
  api.get("/classes", async (c) => {
    const names = await named;
    return c.json(
      graph.classes().map((k) => ({
        class: classKey(k),
        name: classLabel(k, names),
        dataset_cid: k.datasetCid,
        prepare_cid: k.prepareCid,
        experiment_count: k.count,
        frontier_size: k.frontierSize,
        best_val_bpb: k.bestValBpb,
      })),
    );
  });

  api.get("/recent", (c) => {
    const { limit, offset } = page(c);
    const rows = graph.recent(limit + 1, offset);
    return list(c, listed(rows.slice(0, limit), profiles), rows, offset, limit, true);
  });

  api.get("/experiment/:cid", async (c) => {
    const rec = requireRecord(graph, c.req.param("cid"));
    // Whether "download train.py" can be served from here: read (hash-checked), not only
    // stat'ed, so a damaged file never shows a link that then fails.
    const codeAvailable = (await node.stores.artifacts.get(rec.code_cid)) !== undefined;
    const children = graph.children(rec.id);
    const events = node.stores.control.byExperiment(rec.id);
    // Judged as the verifier judges them: a logged (signed) event is not necessarily believed.
    const { event_state, ...verification } = experimentVerification(rec, events);
    const from = Math.max(0, events.length - MAX_EVENTS);
    return c.json({
      ...withNames([rec], profiles)[0],
      verified: graph.isVerified(rec.id),
      is_frontier: isOnFrontier(rec, children),
      child_count: children.length,
      code_available: codeAvailable,
      verification,
      event: events.slice(from).map((e, i) => ({
        seq: e.seq,
        type: e.type,
        payload: e.payload,
        state: event_state[from + i],
      })),
    });
  });

  // The loss curve this node recorded while training the experiment; empty for any record it
  // did not train itself (the curve is local, never part of the signed record).
  api.get("/experiment/:cid/curve", (c) => {
    const rec = requireRecord(graph, c.req.param("cid"));
    const points = node.stores.runs.get(rec.id);
    return c.json({ id: rec.id, recorded: points !== undefined, points: points ?? [] });
  });

  api.get("/experiment/:cid/ancestor", (c) => {
    const rec = requireRecord(graph, c.req.param("cid"));
    const { limit, offset } = page(c);
    if (offset + limit > MAX_LINEAGE) {
      throw new ApiError(400, `offset + limit must be at most ${MAX_LINEAGE}`);
    }
    const rows = lineage(graph, rec, limit + 1, offset);
    return list(c, listed(rows.slice(0, limit), profiles), rows, offset, limit, true);
  });

  api.get("/experiment/:cid/children", (c) => {
    const rec = requireRecord(graph, c.req.param("cid"));
    const { limit, offset } = page(c);
    const rows = graph.children(rec.id);
    return list(c, listed(rows.slice(offset, offset + limit), profiles), rows, offset, limit);
  });

  api.get("/node/:id/experiment", (c) => {
    const nodeId = requireNode(node.stores, c.req.param("id"));
    const { limit, offset } = page(c);
    const rows = graph.byNode(nodeId, limit + 1, offset);
    return list(c, listed(rows.slice(0, limit), profiles), rows, offset, limit, true);
  });

  api.get("/node/:id/reputation", (c) => {
    // Section 10: zeros for a node never seen (a syntactically valid id is enough).
    return c.json(reputation.get(parseNodeId(c.req.param("id"))));
  });

  api.get("/node/:id/profile", (c) => {
    const nodeId = parseNodeId(c.req.param("id"));
    const profile = profiles.get(nodeId);
    if (!profile) throw new ApiError(404, "no profile for this node");
    return c.json(profile);
  });

  api.get("/search", (c) => {
    const q = parseQuery(c.req.query("q"));
    const limit = parseLimit(c.req.query("limit"));
    return c.json(listed(search(node.stores, q, limit), profiles));
  });

  api.get("/leaderboard", (c) => {
    const { limit, offset } = page(c);
    const rows = reputation.leaderboard(limit + 1, offset);
    return list(c, leaderboardRows(rows.slice(0, limit), profiles), rows, offset, limit, true);
  });

  api.get("/peer", (c) => c.json(node.peers()));

  // What this node is training now, or its last run (the live run card); null before any.
  api.get("/run", (c) =>
    c.json({
      run: node.runs?.current() ?? null,
      curve: node.runs?.curve() ?? [],
    }));

  api.get("/artifact/:cid", async (c) => {
    const cid = parseCid(c.req.param("cid"));
    const bytes = await fetchWithTimeout(node, cid);
    if (!bytes) throw new ApiError(404, "artifact not found locally or at any connected peer");
    return c.json(artifactBody(cid, bytes));
  });

  // The exact bytes, as a download: what `spore checkout` writes (sha256 = cid).
  api.get("/artifact/:cid/raw", async (c) => {
    const cid = parseCid(c.req.param("cid"));
    const bytes = await fetchWithTimeout(node, cid);
    if (!bytes) throw new ApiError(404, "artifact not found locally or at any connected peer");
    return c.body(bytes.slice().buffer, 200, {
      "Content-Type": "application/octet-stream",
      "Content-Disposition": `attachment; filename="train-${shortId(cid)}.py"`,
    });
  });

  api.all("*", () => {
    throw new ApiError(404, "no such API endpoint");
  });
  return api;
}

function page(c: Context): { limit: number; offset: number } {
  return { limit: parseLimit(c.req.query("limit")), offset: parseOffset(c.req.query("offset")) };
}

/**
 * Answer one page. `fetched` is what the store returned: either the full list (sliced here) or,
 * with `fetchedFromOffset`, the page plus one look-ahead row.
 */
function list(
  c: Context,
  body: unknown[],
  fetched: readonly unknown[],
  offset: number,
  limit: number,
  fetchedFromOffset = false,
): Response {
  const more = fetchedFromOffset ? fetched.length > limit : fetched.length > offset + limit;
  if (more) c.header("X-Next-Offset", String(offset + limit));
  return c.json(body);
}

function requireRecord(graph: Stores["graph"], raw: string | undefined): ExperimentRecord {
  const rec = graph.get(parseCid(raw, "experiment id"));
  if (!rec) throw new ApiError(404, "no experiment with this id");
  return rec;
}

/** A node is known when it published, has a profile, or has a reputation row. */
function requireNode(stores: Stores, raw: string | undefined): string {
  const nodeId = parseNodeId(raw);
  const known = stores.graph.byNode(nodeId, 1).length > 0 || stores.profiles.get(nodeId) ||
    Object.entries(stores.reputation.get(nodeId)).some(([k, v]) => k !== "node_id" && v !== 0);
  if (!known) throw new ApiError(404, "unknown node");
  return nodeId;
}

/**
 * Records matching `q` by id or node prefix, description, hypothesis or GPU (the store's
 * search), plus the newest records of nodes whose display name contains `q`.
 */
function search(stores: Stores, q: string, limit: number): ExperimentRecord[] {
  const out = new Map<string, ExperimentRecord>();
  for (const r of stores.graph.search(q, limit)) out.set(r.id, r);
  const needle = q.toLowerCase();
  for (let offset = 0; offset < MAX_PROFILE_SCAN && out.size < limit; offset += 500) {
    const batch = stores.profiles.all(500, offset);
    for (const p of batch) {
      if (out.size >= limit) break;
      if (!p.display_name.toLowerCase().includes(needle)) continue;
      for (const r of stores.graph.byNode(p.node_id, limit - out.size)) out.set(r.id, r);
    }
    if (batch.length < 500) break;
  }
  return [...out.values()].sort((a, b) => b.timestamp - a.timestamp || (a.id < b.id ? 1 : -1));
}

async function fetchWithTimeout(node: NodeHandle, cid: string): Promise<Uint8Array | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ARTIFACT_FETCH_TIMEOUT_MS);
  });
  try {
    return await Promise.race([node.fetchArtifact(cid), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `{cid, content}`: UTF-8 text as is; other bytes base64 with `encoding: "base64"`. */
function artifactBody(cid: string, bytes: Uint8Array): Record<string, unknown> {
  try {
    const content = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return { cid, content, size: bytes.length };
  } catch {
    return {
      cid,
      content: Buffer.from(bytes).toString("base64"),
      encoding: "base64",
      size: bytes.length,
    };
  }
}
