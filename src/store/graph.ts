/**
 * The experiment graph in `<data>/db/graph.sqlite` (PROTOCOL.md sections 3, 7, 9).
 *
 * The `experiment` table keeps the Python node's columns unchanged so either implementation can
 * open the other's data dir. We add four columns, filled by {@link GraphStore.open} for rows
 * another writer inserted:
 * - `seq`: local insertion order, the cursor of incremental sync;
 * - `frontier`: 1 when the record is on the frontier, maintained on every insert so frontier
 *   reads touch only frontier rows;
 * - `gpu_class`: the normalized GPU class of `gpu_model`;
 * - `canonical`: the signed payload's canonical JSON, kept only for the rare record the typed
 *   columns cannot reproduce (`-0.0` in a REAL column, a NUL or a lone surrogate in text).
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import {
  canonicalRecord,
  checkRecordShape,
  type ExperimentRecord,
  type ExperimentStatus,
  normalizeGpuClass,
  recordId,
} from "../protocol/mod.ts";
import { StoreError } from "./errors.ts";
import {
  ARRAY_STATEMENTS,
  COL,
  EXTRA,
  needsCanonical,
  RECORD_COLUMNS,
  type RecordRow,
  returnArrays,
  rows,
  rowToRecord,
  signVariants,
  TEXT_FIELDS,
} from "./graph_rows.ts";
import { type CheckpointerOptions, WalCheckpointer } from "./checkpointer.ts";
import { INSERT_COLUMNS, migrate, PARENT_KEY, PARENT_KEY_OF_PARAM } from "./graph_schema.ts";
import { cell, inTransaction, MAX_PAGE, openStore, pageValue, SqliteStore } from "./sqlite.ts";

export { PYTHON_EXPERIMENT_DDL } from "./graph_schema.ts";

/** Aggregate figures for `status` and the explorer's `/api/stat`. */
export interface GraphStats {
  count: number;
  frontierSize: number;
  bestValBpb: number | null;
  nodes: number;
}

/** Options of {@link GraphStore.open}. */
export interface GraphOpenOptions {
  /**
   * Run WAL checkpoints on a worker thread after bulk writes (default true). The node turns
   * it off when the verify worker already uses its only spare core.
   */
  backgroundCheckpoint?: boolean;
  /** Tuning of the background WAL checkpoints (tests shorten them). */
  checkpoint?: CheckpointerOptions;
}

/** One research class in the graph (PROTOCOL.md section 7), for grouped views. */
export interface ClassSummary {
  datasetCid: string;
  prepareCid: string;
  /** Records of the class. */
  count: number;
  /** Of which on the frontier. */
  frontierSize: number;
  /** Lowest frontier val_bpb of the class (any GPU class), or null. */
  bestValBpb: number | null;
}

/** Most classes a grouped view lists (the rest are summed up by the caller as "other"). */
export const MAX_CLASSES = 100;

/**
 * The fields of one record a progress chart needs, in local storage order (see
 * {@link GraphStore.progressRows}); the array layout keeps a catch-up over a million rows cheap.
 */
export type ProgressRow = readonly [
  seq: number,
  id: string,
  timestamp: number,
  valBpb: number,
  status: string,
  nodeId: string,
  gpuClass: string | null,
  datasetCid: string,
  prepareCid: string,
];

/** Text shown beside a chart point: the start of the description and the parent's result. */
export interface ProgressDetail {
  description: string;
  /** The record names a parent (stored here or not). */
  hasParent: boolean;
  parentValBpb: number | null;
  parentStatus: string | null;
}

/** One record with its local insertion sequence number. */
export interface SeqRecord {
  seq: number;
  record: ExperimentRecord;
}

/** Rows whose parent is the first bound parameter, found through the parent-key index. */
const CHILD_OF = `${PARENT_KEY} = ${PARENT_KEY_OF_PARAM} AND parent = ?1`;

/** Longest search query we accept; longer ones are cut. */
const MAX_QUERY = 256;

/**
 * Page cache of the graph database. Inserts into 100,000 rows ran about 5-10% slower with
 * 16 MiB than with 64 MiB and about 15% faster than with 8 MiB; 16 MiB keeps a node with
 * 50,000 records near 150 MB resident.
 */
const GRAPH_CACHE_MIB = 16;

/** SELECT list of a record row. */
const SELECT_RECORD = `SELECT ${RECORD_COLUMNS} FROM experiment`;

/** The graph's statements; those in ARRAY_STATEMENTS return array rows. */
const GRAPH_SQL = {
  // Binds INSERT_COLUMNS in order (GraphStore.#insertOne).
  insert: `INSERT OR IGNORE INTO experiment (${INSERT_COLUMNS.join(", ")}) ` +
    `VALUES (${INSERT_COLUMNS.map(() => "?").join(", ")})`,
  maxSeq: "SELECT COALESCE(MAX(seq), 0) AS m FROM experiment",
  hasLowerKeepChild:
    `SELECT 1 AS x FROM experiment WHERE ${CHILD_OF} AND status = 'keep' AND val_bpb < ?2 ` +
    "LIMIT 1",
  clearParent: "UPDATE experiment SET frontier = 0 WHERE id = ? AND frontier = 1 AND val_bpb > ?",
  has: "SELECT 1 AS x FROM experiment WHERE id = ?",
  get: `${SELECT_RECORD} WHERE id = ?`,
  parentOf: "SELECT parent FROM experiment WHERE id = ?",
  children: `${SELECT_RECORD} WHERE ${CHILD_OF} ORDER BY timestamp, rowid`,
  roots: `${SELECT_RECORD} e WHERE parent IS NULL OR NOT EXISTS ` +
    `(SELECT 1 FROM experiment p WHERE p.id = e.parent) ORDER BY timestamp, id LIMIT ?`,
  frontier: `${SELECT_RECORD} WHERE frontier = 1 ORDER BY val_bpb, id LIMIT ?`,
  frontierClass:
    `${SELECT_RECORD} WHERE frontier = 1 AND gpu_class = ? ORDER BY val_bpb, id LIMIT ?`,
  frontierResearch: `${SELECT_RECORD} WHERE frontier = 1 AND dataset_cid = ? AND prepare_cid = ? ` +
    "ORDER BY val_bpb, id LIMIT ?",
  frontierResearchGpu:
    `${SELECT_RECORD} WHERE frontier = 1 AND dataset_cid = ? AND prepare_cid = ? ` +
    "AND gpu_class = ? ORDER BY val_bpb, id LIMIT ?",
  // The next page after (val_bpb, id), in the same order: how a caller reads every row.
  frontierResearchAfter:
    `${SELECT_RECORD} WHERE frontier = 1 AND dataset_cid = ? AND prepare_cid = ? ` +
    "AND (val_bpb > ? OR (val_bpb = ? AND id > ?)) ORDER BY val_bpb, id LIMIT ?",
  frontierResearchGpuAfter:
    `${SELECT_RECORD} WHERE frontier = 1 AND dataset_cid = ? AND prepare_cid = ? ` +
    "AND gpu_class = ? AND (val_bpb > ? OR (val_bpb = ? AND id > ?)) ORDER BY val_bpb, id LIMIT ?",
  datasetsOf: "SELECT dataset_cid AS d, COUNT(*) AS n FROM experiment WHERE prepare_cid = ? " +
    "GROUP BY dataset_cid ORDER BY n DESC, dataset_cid LIMIT 16",
  classes: "SELECT dataset_cid AS d, prepare_cid AS p, COUNT(*) AS n, SUM(frontier) AS f, " +
    "MIN(CASE WHEN frontier = 1 THEN val_bpb END) AS best FROM experiment " +
    "GROUP BY dataset_cid, prepare_cid ORDER BY n DESC, d, p LIMIT ?",
  recent: `${SELECT_RECORD} ORDER BY timestamp DESC, rowid DESC LIMIT ? OFFSET ?`,
  byNode: `${SELECT_RECORD} WHERE node_id = ? ORDER BY timestamp DESC, rowid DESC LIMIT ? OFFSET ?`,
  // Seq numbers are dense (1..n, append-only graph), so the count needs no table scan;
  // rows another writer added since open have no seq yet and are counted apart.
  count: "SELECT (SELECT COALESCE(MAX(seq), 0) FROM experiment) + " +
    "(SELECT COUNT(*) FROM experiment WHERE seq IS NULL) AS n",
  frontierSize: "SELECT COUNT(*) AS n FROM experiment WHERE frontier = 1",
  statusCounts: "SELECT status, COUNT(*) AS n FROM experiment WHERE node_id = ? GROUP BY status",
  nodes: "SELECT COUNT(*) AS n FROM graph_node",
  addNode: "INSERT OR IGNORE INTO graph_node (node_id) VALUES (?)",
  search:
    `${SELECT_RECORD} WHERE id LIKE $prefix ESCAPE '\\' OR node_id LIKE $prefix ESCAPE '\\' ` +
    `OR description LIKE $infix ESCAPE '\\' OR hypothesis LIKE $infix ESCAPE '\\' ` +
    `OR gpu_model LIKE $infix ESCAPE '\\' ORDER BY timestamp DESC, rowid DESC LIMIT $limit`,
  markVerified: "UPDATE experiment SET verified = 1 WHERE id = ? AND verified = 0",
  isVerified: "SELECT verified FROM experiment WHERE id = ?",
  afterSeq: `SELECT ${RECORD_COLUMNS}, seq FROM experiment WHERE seq > ? ORDER BY seq LIMIT ?`,
  progressRows: "SELECT seq, id, timestamp, val_bpb, status, node_id, gpu_class, dataset_cid, " +
    "prepare_cid FROM experiment WHERE seq > ?1 AND seq <= ?2 AND (?3 IS NULL OR gpu_class = ?3) " +
    "ORDER BY seq LIMIT ?4",
  progressDetails:
    "SELECT e.id AS id, substr(e.description, 1, ?) AS description, p.val_bpb AS pv, " +
    "p.status AS ps, e.parent IS NOT NULL AS hp FROM experiment e " +
    "LEFT JOIN experiment p ON p.id = e.parent " +
    "WHERE e.id IN (SELECT value FROM json_each(?))",
  sinceFirst: `SELECT ${RECORD_COLUMNS}, rowid FROM experiment WHERE timestamp >= ? ` +
    "ORDER BY timestamp, rowid LIMIT ?",
  sinceNext: `SELECT ${RECORD_COLUMNS}, rowid FROM experiment ` +
    "WHERE (timestamp, rowid) > (?, ?) ORDER BY timestamp, rowid LIMIT ?",
};

/** Experiment graph over one SQLite file. Methods are synchronous; one instance per file. */
export class GraphStore extends SqliteStore<typeof GRAPH_SQL> {
  /** Publishers known to be in `graph_node`; skips a statement per insert once seen. */
  readonly #knownNodes = new Set<string>();
  /** Publishers added by the open transaction; known only once it commits. */
  readonly #pendingNodes = new Set<string>();
  /** Background WAL checkpoints after bulk writes; null for an in-memory database. */
  readonly #checkpointer: WalCheckpointer | null;

  private constructor(db: DatabaseSync, checkpointer: WalCheckpointer | null) {
    super(db, GRAPH_SQL);
    this.#checkpointer = checkpointer;
    for (const name of ARRAY_STATEMENTS) returnArrays(this.sql[name]);
    returnArrays(this.sql.progressRows);
  }

  /**
   * Open or create the graph at `path`, migrating a Python-written table in place and
   * backfilling our columns for rows any other writer added since the last open.
   * @throws StoreError when the file is not a SQLite database or cannot be migrated; the file
   * is not modified in that case.
   */
  static open(path: string, opts: GraphOpenOptions = {}): GraphStore {
    return openStore(path, "the experiment graph", (db) => {
      migrate(db, path);
      const background = path !== ":memory:" && (opts.backgroundCheckpoint ?? true);
      const checkpointer = background ? new WalCheckpointer(path, opts.checkpoint) : null;
      const store = new GraphStore(db, checkpointer);
      store.#backfill();
      return store;
    }, GRAPH_CACHE_MIB);
  }

  /**
   * Store one record. Returns true when it was new, false when already stored (idempotent).
   * The caller has validated id and signature; the shape is re-checked here.
   * @throws StoreError when `rec` fails the record shape check.
   */
  insert(rec: ExperimentRecord): boolean {
    this.#checkShape(rec);
    const added = this.#write(() => this.#insertOne(rec, this.#maxSeq() + 1));
    if (added) this.#checkpointer?.wrote(1);
    return added;
  }

  /**
   * Store many records in one transaction; returns how many were new. Any order works: a child
   * may come before its parent. Nothing is stored when one record fails the shape check.
   * @throws StoreError on the first record failing the shape check.
   */
  insertMany(recs: readonly ExperimentRecord[]): number {
    for (const rec of recs) this.#checkShape(rec);
    if (recs.length === 0) return 0;
    const added = this.#write(() => {
      let next = this.#maxSeq() + 1;
      let n = 0;
      for (const rec of recs) {
        if (this.#insertOne(rec, next)) {
          next++;
          n++;
        }
      }
      return n;
    });
    this.#checkpointer?.wrote(added);
    return added;
  }

  /** True when a record with this id is stored. */
  has(id: string): boolean {
    return this.sql.has.get(id) !== undefined;
  }

  /** The stored record, byte-identical to the signed one, or undefined. */
  get(id: string): ExperimentRecord | undefined {
    const row = this.sql.get.get(id);
    return row ? rowToRecord(row as unknown as RecordRow) : undefined;
  }

  /** Direct children of a record (any status), oldest first. */
  children(id: string): ExperimentRecord[] {
    return rows(this.sql.children, id).map(rowToRecord);
  }

  /** Records with no stored parent (genesis records and orphans), oldest first. */
  roots(limit: number): ExperimentRecord[] {
    return rows(this.sql.roots, pageValue(limit, "limit", MAX_PAGE)).map(rowToRecord);
  }

  /**
   * Ancestors of a record, nearest first. Stops at the first parent not stored here (it may
   * still arrive) and never loops, whatever the stored parent links say.
   */
  ancestors(id: string): ExperimentRecord[] {
    const out: ExperimentRecord[] = [];
    const seen = new Set<string>([id]);
    let parent = this.sql.parentOf.get(id)?.parent;
    while (typeof parent === "string" && !seen.has(parent)) {
      seen.add(parent);
      const rec = this.get(parent);
      if (!rec) break;
      out.push(rec);
      parent = rec.parent;
    }
    return out;
  }

  /**
   * Frontier records (status keep, no keep child with strictly lower val_bpb), val_bpb
   * ascending, optionally only those of one GPU class (any device string is normalized).
   */
  frontier(gpuClass?: string, limit = MAX_PAGE): ExperimentRecord[] {
    const n = pageValue(limit, "limit", MAX_PAGE);
    const found = gpuClass === undefined
      ? rows(this.sql.frontier, n)
      : rows(this.sql.frontierClass, normalizeGpuClass(gpuClass), n);
    return found.map(rowToRecord);
  }

  /**
   * Frontier records of one research class (PROTOCOL.md section 7), val_bpb ascending,
   * optionally within one GPU class too.
   */
  frontierOfClass(
    cls: { datasetCid: string; prepareCid: string },
    gpuClass?: string,
    limit = MAX_PAGE,
    after?: ExperimentRecord,
  ): ExperimentRecord[] {
    const n = pageValue(limit, "limit", MAX_PAGE);
    const { datasetCid: d, prepareCid: p } = cls;
    const gpu = gpuClass === undefined ? undefined : normalizeGpuClass(gpuClass);
    const found = after === undefined
      ? gpu === undefined
        ? rows(this.sql.frontierResearch, d, p, n)
        : rows(this.sql.frontierResearchGpu, d, p, gpu, n)
      : gpu === undefined
      ? rows(this.sql.frontierResearchAfter, d, p, after.val_bpb, after.val_bpb, after.id, n)
      : rows(
        this.sql.frontierResearchGpuAfter,
        d,
        p,
        gpu,
        after.val_bpb,
        after.val_bpb,
        after.id,
        n,
      );
    return found.map(rowToRecord);
  }

  /** Every frontier record of a class (and GPU class), best first, read a page at a time. */
  *frontierOfClassAll(
    cls: { datasetCid: string; prepareCid: string },
    gpuClass?: string,
    page = MAX_PAGE,
  ): Generator<ExperimentRecord> {
    let after: ExperimentRecord | undefined;
    for (;;) {
      const rows = this.frontierOfClass(cls, gpuClass, page, after);
      yield* rows;
      after = rows.at(-1);
      if (after === undefined || rows.length < page) return;
    }
  }

  /**
   * The `dataset_cid`s records with this `prepare_cid` carry, most common first (at most 16):
   * how a workspace whose prepare.py names no dataset learns the one the network uses.
   */
  datasetsOfPrepare(prepareCid: string): { datasetCid: string; count: number }[] {
    return this.sql.datasetsOf.all(prepareCid).map((r) => ({
      datasetCid: String(r.d),
      count: Number(r.n),
    }));
  }

  /** Research classes in the graph, largest first (at most {@link MAX_CLASSES}). */
  classes(): ClassSummary[] {
    return this.sql.classes.all(MAX_CLASSES).map((r) => ({
      datasetCid: String(r.d),
      prepareCid: String(r.p),
      count: Number(r.n),
      frontierSize: Number(r.f ?? 0),
      bestValBpb: r.best === null || r.best === undefined ? null : Number(r.best),
    }));
  }

  /** The frontier record with the lowest val_bpb (optionally within one GPU class). */
  best(gpuClass?: string): ExperimentRecord | undefined {
    return this.frontier(gpuClass, 1)[0];
  }

  /** Newest records first (by timestamp), paged. */
  recent(limit: number, offset = 0): ExperimentRecord[] {
    return rows(this.sql.recent, pageValue(limit, "limit", MAX_PAGE), pageValue(offset, "offset"))
      .map(rowToRecord);
  }

  /** One node's records, newest first, paged. */
  byNode(nodeId: string, limit: number, offset = 0): ExperimentRecord[] {
    const [n, skip] = [pageValue(limit, "limit", MAX_PAGE), pageValue(offset, "offset")];
    return rows(this.sql.byNode, nodeId, n, skip).map(rowToRecord);
  }

  /** Number of stored records. */
  count(): number {
    return Number(this.sql.count.get()?.n ?? 0);
  }

  /** Records published by `nodeId`, by status (statuses without records are absent). */
  statusCounts(nodeId: string): Map<string, number> {
    return new Map(this.sql.statusCounts.all(nodeId).map((r) => [String(r.status), Number(r.n)]));
  }

  /**
   * Records whose id or node_id starts with `query`, or whose description, hypothesis or
   * gpu_model contains it (case-insensitive for ASCII), newest first. `%`, `_` and `\` in the
   * query match themselves. An empty query matches nothing.
   */
  search(query: string, limit: number): ExperimentRecord[] {
    const n = pageValue(limit, "limit", MAX_PAGE);
    const q = String(query).trim().slice(0, MAX_QUERY);
    if (q === "") return [];
    const esc = q.replace(/[\\%_]/g, (c) => `\\${c}`);
    const found = this.sql.search.all({ prefix: `${esc}%`, infix: `%${esc}%`, limit: n });
    return (found as unknown as RecordRow[]).map(rowToRecord);
  }

  /** Mark a record as verified by this node; true when it exists and was not marked before. */
  markVerified(id: string): boolean {
    return Number(this.sql.markVerified.run(id).changes) > 0;
  }

  /** True when the record exists and has been marked verified. */
  isVerified(id: string): boolean {
    return Number(this.sql.isVerified.get(id)?.verified ?? 0) !== 0;
  }

  /** Records stored after local sequence number `seq`, in storage order (incremental sync). */
  afterSeq(seq: number, limit: number): SeqRecord[] {
    const from = Number.isFinite(seq) ? Math.max(0, Math.floor(seq)) : 0;
    return rows(this.sql.afterSeq, from, pageValue(limit, "limit", MAX_PAGE)).map((row) => ({
      seq: Number(row[EXTRA]),
      record: rowToRecord(row),
    }));
  }

  /**
   * Chart fields of the records stored after local sequence number `seq` up to `upTo`
   * (inclusive), of one GPU class when given, in storage order: the cursor of the explorer's
   * incremental progress series. Read as arrays: a catch-up may read a million rows.
   */
  progressRows(seq: number, upTo: number, limit: number, gpuClass?: string): ProgressRow[] {
    const from = Number.isFinite(seq) ? Math.max(0, Math.floor(seq)) : 0;
    const n = pageValue(limit, "limit", MAX_PAGE);
    return this.sql.progressRows.all(from, upTo, gpuClass ?? null, n) as unknown as ProgressRow[];
  }

  /**
   * Description (first `maxChars` characters) and the parent's val_bpb and status of each of
   * `ids` that is stored (at most {@link MAX_PAGE} ids).
   */
  progressDetails(ids: readonly string[], maxChars: number): Map<string, ProgressDetail> {
    if (ids.length > MAX_PAGE) throw new RangeError(`at most ${MAX_PAGE} ids at once`);
    const out = new Map<string, ProgressDetail>();
    const found = this.sql.progressDetails.all(
      pageValue(maxChars, "maxChars"),
      JSON.stringify(ids),
    );
    for (const r of found) {
      out.set(String(r.id), {
        description: String(r.description),
        hasParent: Number(r.hp) === 1,
        parentValBpb: r.pv === null ? null : Number(r.pv),
        parentStatus: r.ps === null ? null : String(r.ps),
      });
    }
    return out;
  }

  /** Highest local sequence number in use (0 for an empty graph). */
  maxSeq(): number {
    return this.#maxSeq();
  }

  /**
   * Stream every record with `timestamp >= since`, oldest first, `batch` rows per query, so a
   * full sync never holds the whole graph in memory.
   */
  *iterSinceTimestamp(since: number, batch = 500): Generator<ExperimentRecord> {
    const size = Math.max(1, pageValue(batch, "batch", MAX_PAGE));
    const from = Number.isFinite(since) ? since : 0;
    let page = rows(this.sql.sinceFirst, from, size);
    for (let last = page.at(-1); last !== undefined; last = page.at(-1)) {
      for (const row of page) yield rowToRecord(row);
      if (page.length < size) return;
      page = rows(this.sql.sinceNext, cell(last, COL.timestamp), cell(last, EXTRA), size);
    }
  }

  /** Counts for status displays: records, frontier size, best val_bpb, distinct publishers. */
  stats(): GraphStats {
    const best = rows(this.sql.frontier, 1)[0];
    return {
      count: this.count(),
      frontierSize: Number(this.sql.frontierSize.get()?.n ?? 0),
      bestValBpb: best ? Number(best[COL.val_bpb]) : null,
      nodes: Number(this.sql.nodes.get()?.n ?? 0),
    };
  }

  /** Close the database; the store must not be used afterwards. */
  override close(): void {
    this.#checkpointer?.close();
    super.close();
  }

  /** Run an insert transaction, tracking which publishers it added to `graph_node`. */
  #write<T>(fn: () => T): T {
    this.#pendingNodes.clear();
    try {
      const out = inTransaction(this.db, fn);
      for (const id of this.#pendingNodes) this.#knownNodes.add(id);
      return out;
    } finally {
      this.#pendingNodes.clear();
    }
  }

  #checkShape(rec: ExperimentRecord): void {
    const shape = checkRecordShape(rec);
    if (!shape.ok) throw new StoreError(`refusing to store an invalid record: ${shape.reason}`);
  }

  #maxSeq(): number {
    return Number(this.sql.maxSeq.get()?.m ?? 0);
  }

  /** Insert inside an open transaction; maintains the frontier flags of the record and parent. */
  #insertOne(rec: ExperimentRecord, seq: number): boolean {
    const keep = rec.status === "keep";
    const onFrontier = keep && this.sql.hasLowerKeepChild.get(rec.id, rec.val_bpb) === undefined;
    // Positional binding: measurably cheaper than a named-parameter object on this hot path.
    const changes = this.sql.insert.run(
      rec.id,
      rec.version,
      rec.parent,
      rec.depth,
      rec.code_cid,
      rec.diff,
      rec.dataset_cid,
      rec.prepare_cid,
      rec.time_budget,
      rec.val_bpb,
      rec.peak_vram_mb,
      rec.num_steps,
      rec.num_params,
      rec.status,
      rec.description,
      rec.hypothesis,
      rec.agent_model,
      rec.gpu_model,
      rec.cuda_version,
      rec.torch_version,
      rec.node_id,
      rec.timestamp,
      rec.signature,
      seq,
      onFrontier ? 1 : 0,
      normalizeGpuClass(rec.gpu_model),
      needsCanonical(rec) ? canonicalRecord(rec) : null,
    ).changes;
    if (Number(changes) === 0) return false;
    if (!this.#knownNodes.has(rec.node_id) && !this.#pendingNodes.has(rec.node_id)) {
      this.sql.addNode.run(rec.node_id);
      this.#pendingNodes.add(rec.node_id);
    }
    if (keep && rec.parent !== null) this.sql.clearParent.run(rec.parent, rec.val_bpb);
    return true;
  }

  /**
   * Fill our columns for rows without `seq`: a Python-written table on first open, or rows a
   * Python node added to this file since. Runs in one transaction; a no-op when all rows have
   * `seq`.
   */
  #backfill(): void {
    const db = this.db;
    const pending = db.prepare("SELECT COUNT(*) AS n FROM experiment WHERE seq IS NULL").get();
    if (Number(pending?.n ?? 0) === 0) return;
    inTransaction(db, () => {
      this.#repairCanonical();
      // Frontier: first each new row's own flag (its children are all in the table by now),
      // then clear parents that a new keep child beats.
      db.exec(
        `UPDATE experiment SET frontier = (status = 'keep' AND NOT EXISTS (
           SELECT 1 FROM experiment c WHERE c.parent = experiment.id AND c.status = 'keep'
             AND c.val_bpb < experiment.val_bpb)) WHERE seq IS NULL`,
      );
      db.exec(
        `UPDATE experiment SET frontier = 0 WHERE frontier = 1 AND EXISTS (
           SELECT 1 FROM experiment c WHERE c.parent = experiment.id AND c.seq IS NULL
             AND c.status = 'keep' AND c.val_bpb < experiment.val_bpb)`,
      );
      db.exec(
        "INSERT OR IGNORE INTO graph_node (node_id) " +
          "SELECT DISTINCT node_id FROM experiment WHERE seq IS NULL",
      );
      const classes = db.prepare(
        "SELECT DISTINCT gpu_model FROM experiment WHERE seq IS NULL",
      ).all();
      const setClass = db.prepare(
        "UPDATE experiment SET gpu_class = ? WHERE seq IS NULL AND gpu_model = ?",
      );
      for (const row of classes) {
        const gpuModel = cell(row, "gpu_model");
        setClass.run(normalizeGpuClass(String(gpuModel)), gpuModel);
      }
      // rowid order is the other writer's insertion order, the best guess at arrival order.
      db.prepare(
        `WITH n AS (SELECT rowid AS r, ROW_NUMBER() OVER (ORDER BY rowid) AS k
                    FROM experiment WHERE seq IS NULL)
         UPDATE experiment SET seq = ? + n.k FROM n WHERE experiment.rowid = n.r`,
      ).run(this.#maxSeq());
    });
  }

  /**
   * For rows without `seq` that the typed columns may not reproduce (a zero float that may
   * have been `-0.0`, or text holding a NUL), find the exact signed payload and keep its
   * canonical JSON. Text is read as bytes because `node:sqlite` cuts text at a NUL.
   */
  #repairCanonical(): void {
    const db = this.db;
    const nulIn = TEXT_FIELDS.map((f) => `instr(CAST(${f} AS BLOB), x'00') > 0`).join(" OR ");
    const blobs = TEXT_FIELDS.map((f) => `CAST(${f} AS BLOB) AS ${f}`).join(", ");
    const candidates = db.prepare(
      `SELECT id, version, parent, depth, time_budget, val_bpb, peak_vram_mb, num_steps,
              num_params, timestamp, ${blobs}
       FROM experiment WHERE seq IS NULL AND canonical IS NULL
         AND (val_bpb = 0 OR peak_vram_mb = 0 OR ${nulIn})`,
    ).all();
    const setCanonical = db.prepare("UPDATE experiment SET canonical = ? WHERE id = ?");
    const decoder = new TextDecoder();
    for (const row of candidates) {
      const text = (column: (typeof TEXT_FIELDS)[number]) => {
        const v = cell(row, column);
        return v instanceof Uint8Array ? decoder.decode(v) : String(v);
      };
      const base: ExperimentRecord = {
        id: String(row.id),
        version: Number(row.version),
        parent: row.parent === null ? null : String(row.parent),
        depth: Number(row.depth),
        code_cid: text("code_cid"),
        diff: text("diff"),
        dataset_cid: text("dataset_cid"),
        prepare_cid: text("prepare_cid"),
        time_budget: Number(row.time_budget),
        val_bpb: Number(row.val_bpb),
        peak_vram_mb: Number(row.peak_vram_mb),
        num_steps: Number(row.num_steps),
        num_params: Number(row.num_params),
        status: text("status") as ExperimentStatus,
        description: text("description"),
        hypothesis: text("hypothesis"),
        agent_model: text("agent_model"),
        gpu_model: text("gpu_model"),
        cuda_version: text("cuda_version"),
        torch_version: text("torch_version"),
        node_id: text("node_id"),
        timestamp: Number(row.timestamp),
        signature: text("signature"),
      };
      const match = signVariants(base).find((r) => recordId(r) === r.id);
      // No match means the row never matched its id (tampered or foreign): leave it as stored.
      if (match && needsCanonical(match)) setCanonical.run(canonicalRecord(match), match.id);
    }
  }
}
