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
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import {
  canonicalRecord,
  checkRecordShape,
  normalizeGpuClass,
  recordId,
} from "../protocol/mod.ts";
import type { ExperimentPayload, ExperimentRecord, ExperimentStatus } from "../protocol/types.ts";
import { StoreError } from "./errors.ts";
import { columnsOf, inTransaction, isLossyText, MAX_PAGE, openDatabase, pageValue } from "./sqlite.ts";

/** The Python node's table, for creating a fresh database (PROTOCOL.md section 9). */
export const PYTHON_EXPERIMENT_DDL = `CREATE TABLE IF NOT EXISTS experiment (
  id TEXT PRIMARY KEY, parent TEXT, depth INTEGER NOT NULL, code_cid TEXT NOT NULL,
  diff TEXT NOT NULL, dataset_cid TEXT NOT NULL, prepare_cid TEXT NOT NULL,
  time_budget INTEGER NOT NULL, val_bpb REAL NOT NULL, peak_vram_mb REAL NOT NULL,
  num_steps INTEGER NOT NULL, num_params INTEGER NOT NULL, status TEXT NOT NULL,
  description TEXT NOT NULL, hypothesis TEXT NOT NULL, agent_model TEXT NOT NULL,
  gpu_model TEXT NOT NULL, cuda_version TEXT NOT NULL, torch_version TEXT NOT NULL,
  node_id TEXT NOT NULL, timestamp INTEGER NOT NULL, signature TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1, verified INTEGER NOT NULL DEFAULT 0)`;

/** Columns we add to the Python table, with their DDL. */
const ADDED_COLUMNS: readonly [string, string][] = [
  ["seq", "seq INTEGER"],
  ["frontier", "frontier INTEGER NOT NULL DEFAULT 0"],
  ["gpu_class", "gpu_class TEXT"],
  ["canonical", "canonical TEXT"],
];

const INDEXES = [
  "CREATE UNIQUE INDEX IF NOT EXISTS ix_ts_experiment_seq ON experiment(seq)",
  "CREATE INDEX IF NOT EXISTS ix_ts_experiment_parent ON experiment(parent)",
  "CREATE INDEX IF NOT EXISTS ix_ts_experiment_time ON experiment(timestamp, id)",
  "CREATE INDEX IF NOT EXISTS ix_ts_experiment_node ON experiment(node_id, timestamp)",
  "CREATE INDEX IF NOT EXISTS ix_ts_experiment_frontier ON experiment(val_bpb, id) WHERE frontier = 1",
  "CREATE INDEX IF NOT EXISTS ix_ts_experiment_frontier_class " +
  "ON experiment(gpu_class, val_bpb, id) WHERE frontier = 1",
];

/** Text fields of a record, in wire order. */
const TEXT_FIELDS = [
  "code_cid",
  "diff",
  "dataset_cid",
  "prepare_cid",
  "status",
  "description",
  "hypothesis",
  "agent_model",
  "gpu_model",
  "cuda_version",
  "torch_version",
  "node_id",
  "signature",
] as const;

const RECORD_COLUMNS = "id, version, parent, depth, code_cid, diff, dataset_cid, prepare_cid, " +
  "time_budget, val_bpb, peak_vram_mb, num_steps, num_params, status, description, hypothesis, " +
  "agent_model, gpu_model, cuda_version, torch_version, node_id, timestamp, signature, canonical";

type Row = Record<string, SQLInputValue>;

/** Aggregate figures for `status` and the explorer's `/api/stat`. */
export interface GraphStats {
  count: number;
  frontierSize: number;
  bestValBpb: number | null;
  nodes: number;
}

/** One record with its local insertion sequence number. */
export interface SeqRecord {
  seq: number;
  record: ExperimentRecord;
}

/** Most distinct GPU strings whose class we memoize; real graphs have a few dozen. */
const GPU_CACHE_LIMIT = 1024;

/** Longest search query we accept; longer ones are cut. */
const MAX_QUERY = 256;

/** Experiment graph over one SQLite file. Methods are synchronous; one instance per file. */
export class GraphStore {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #gpuCache = new Map<string, string>();
  readonly #s: Record<string, StatementSync>;

  private constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#path = path;
    const sel = `SELECT ${RECORD_COLUMNS} FROM experiment`;
    const prep = (sql: string) => db.prepare(sql);
    this.#s = {
      insert: prep(
        `INSERT OR IGNORE INTO experiment (${
          RECORD_COLUMNS.replace(", canonical", "")
        }, seq, frontier, gpu_class, canonical) VALUES (` +
          "$id, $version, $parent, $depth, $code_cid, $diff, $dataset_cid, $prepare_cid, " +
          "$time_budget, $val_bpb, $peak_vram_mb, $num_steps, $num_params, $status, " +
          "$description, $hypothesis, $agent_model, $gpu_model, $cuda_version, $torch_version, " +
          "$node_id, $timestamp, $signature, $seq, $frontier, $gpu_class, $canonical)",
      ),
      maxSeq: prep("SELECT COALESCE(MAX(seq), 0) AS m FROM experiment"),
      hasLowerKeepChild: prep(
        "SELECT 1 AS x FROM experiment WHERE parent = ? AND status = 'keep' AND val_bpb < ? LIMIT 1",
      ),
      clearParent: prep(
        "UPDATE experiment SET frontier = 0 WHERE id = ? AND frontier = 1 AND val_bpb > ?",
      ),
      has: prep("SELECT 1 AS x FROM experiment WHERE id = ?"),
      get: prep(`${sel} WHERE id = ?`),
      parentOf: prep("SELECT parent FROM experiment WHERE id = ?"),
      children: prep(`${sel} WHERE parent = ? ORDER BY timestamp, id`),
      frontier: prep(`${sel} WHERE frontier = 1 ORDER BY val_bpb, id LIMIT ?`),
      frontierClass: prep(
        `${sel} WHERE frontier = 1 AND gpu_class = ? ORDER BY val_bpb, id LIMIT ?`,
      ),
      recent: prep(`${sel} ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?`),
      byNode: prep(
        `${sel} WHERE node_id = ? ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?`,
      ),
      count: prep("SELECT COUNT(*) AS n FROM experiment"),
      frontierSize: prep("SELECT COUNT(*) AS n FROM experiment WHERE frontier = 1"),
      nodes: prep("SELECT COUNT(DISTINCT node_id) AS n FROM experiment"),
      search: prep(
        `${sel} WHERE id LIKE $prefix ESCAPE '\\' OR node_id LIKE $prefix ESCAPE '\\' ` +
          `OR description LIKE $infix ESCAPE '\\' OR hypothesis LIKE $infix ESCAPE '\\' ` +
          `OR gpu_model LIKE $infix ESCAPE '\\' ORDER BY timestamp DESC, id DESC LIMIT $limit`,
      ),
      markVerified: prep("UPDATE experiment SET verified = 1 WHERE id = ? AND verified = 0"),
      isVerified: prep("SELECT verified FROM experiment WHERE id = ?"),
      afterSeq: prep(`SELECT seq, ${RECORD_COLUMNS} FROM experiment WHERE seq > ? ORDER BY seq LIMIT ?`),
      sinceFirst: prep(
        `${sel} WHERE timestamp >= ? ORDER BY timestamp, id LIMIT ?`,
      ),
      sinceNext: prep(
        `${sel} WHERE (timestamp, id) > (?, ?) ORDER BY timestamp, id LIMIT ?`,
      ),
    };
  }

  /**
   * Open or create the graph at `path`, migrating a Python-written table in place and
   * backfilling our columns for rows any other writer added since the last open.
   * @throws StoreError when the file is not a SQLite database or cannot be migrated; the file
   * is not modified in that case.
   */
  static open(path: string): GraphStore {
    const db = openDatabase(path);
    try {
      migrate(db, path);
      const store = new GraphStore(db, path);
      store.#backfill();
      return store;
    } catch (err) {
      db.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot prepare the experiment graph in ${path}: ${String(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * Store one record. Returns true when it was new, false when already stored (idempotent).
   * The caller has validated id and signature; the shape is re-checked here.
   * @throws StoreError when `rec` fails the record shape check.
   */
  insert(rec: ExperimentRecord): boolean {
    this.#checkShape(rec);
    return inTransaction(this.#db, () => this.#insertOne(rec, this.#maxSeq() + 1));
  }

  /**
   * Store many records in one transaction; returns how many were new. Any order works: a child
   * may come before its parent. Nothing is stored when one record fails the shape check.
   * @throws StoreError on the first record failing the shape check.
   */
  insertMany(recs: readonly ExperimentRecord[]): number {
    for (const rec of recs) this.#checkShape(rec);
    if (recs.length === 0) return 0;
    return inTransaction(this.#db, () => {
      let next = this.#maxSeq() + 1;
      let added = 0;
      for (const rec of recs) {
        if (this.#insertOne(rec, next)) {
          next++;
          added++;
        }
      }
      return added;
    });
  }

  /** True when a record with this id is stored. */
  has(id: string): boolean {
    return this.#s.has.get(id) !== undefined;
  }

  /** The stored record, byte-identical to the signed one, or undefined. */
  get(id: string): ExperimentRecord | undefined {
    const row = this.#s.get.get(id);
    return row ? rowToRecord(row) : undefined;
  }

  /** Direct children of a record (any status), oldest first. */
  children(id: string): ExperimentRecord[] {
    return this.#s.children.all(id).map(rowToRecord);
  }

  /**
   * Ancestors of a record, nearest first. Stops at the first parent not stored here (it may
   * still arrive) and never loops, whatever the stored parent links say.
   */
  ancestors(id: string): ExperimentRecord[] {
    const out: ExperimentRecord[] = [];
    const seen = new Set<string>([id]);
    let parent = this.#s.parentOf.get(id)?.parent;
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
    const rows = gpuClass === undefined
      ? this.#s.frontier.all(n)
      : this.#s.frontierClass.all(this.#gpuClass(gpuClass), n);
    return rows.map(rowToRecord);
  }

  /** The frontier record with the lowest val_bpb (optionally within one GPU class). */
  best(gpuClass?: string): ExperimentRecord | undefined {
    return this.frontier(gpuClass, 1)[0];
  }

  /** Newest records first (by timestamp), paged. */
  recent(limit: number, offset = 0): ExperimentRecord[] {
    return this.#s.recent
      .all(pageValue(limit, "limit", MAX_PAGE), pageValue(offset, "offset"))
      .map(rowToRecord);
  }

  /** One node's records, newest first, paged. */
  byNode(nodeId: string, limit: number, offset = 0): ExperimentRecord[] {
    return this.#s.byNode
      .all(nodeId, pageValue(limit, "limit", MAX_PAGE), pageValue(offset, "offset"))
      .map(rowToRecord);
  }

  /** Number of stored records. */
  count(): number {
    return Number(this.#s.count.get()?.n ?? 0);
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
    return this.#s.search.all({ prefix: `${esc}%`, infix: `%${esc}%`, limit: n }).map(rowToRecord);
  }

  /** Mark a record as verified by this node; true when it exists and was not marked before. */
  markVerified(id: string): boolean {
    return Number(this.#s.markVerified.run(id).changes) > 0;
  }

  /** True when the record exists and has been marked verified. */
  isVerified(id: string): boolean {
    return Number(this.#s.isVerified.get(id)?.verified ?? 0) !== 0;
  }

  /** Records stored after local sequence number `seq`, in storage order (incremental sync). */
  afterSeq(seq: number, limit: number): SeqRecord[] {
    const from = Number.isFinite(seq) ? Math.max(0, Math.floor(seq)) : 0;
    return this.#s.afterSeq.all(from, pageValue(limit, "limit", MAX_PAGE)).map((row) => ({
      seq: Number(row.seq),
      record: rowToRecord(row),
    }));
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
    let rows = this.#s.sinceFirst.all(from, size);
    while (rows.length > 0) {
      for (const row of rows) yield rowToRecord(row);
      if (rows.length < size) return;
      const last = rows[rows.length - 1];
      rows = this.#s.sinceNext.all(last.timestamp, last.id, size);
    }
  }

  /** Counts for status displays: records, frontier size, best val_bpb, distinct publishers. */
  stats(): GraphStats {
    const best = this.#s.frontier.get(1);
    return {
      count: this.count(),
      frontierSize: Number(this.#s.frontierSize.get()?.n ?? 0),
      bestValBpb: best ? Number(best.val_bpb) : null,
      nodes: Number(this.#s.nodes.get()?.n ?? 0),
    };
  }

  /** Close the database; the store must not be used afterwards. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #checkShape(rec: ExperimentRecord): void {
    const shape = checkRecordShape(rec);
    if (!shape.ok) throw new StoreError(`refusing to store an invalid record: ${shape.reason}`);
  }

  #maxSeq(): number {
    return Number(this.#s.maxSeq.get()?.m ?? 0);
  }

  #gpuClass(gpu: string): string {
    let cls = this.#gpuCache.get(gpu);
    if (cls === undefined) {
      cls = normalizeGpuClass(gpu);
      if (this.#gpuCache.size >= GPU_CACHE_LIMIT) this.#gpuCache.clear();
      this.#gpuCache.set(gpu, cls);
    }
    return cls;
  }

  /** Insert inside an open transaction; maintains the frontier flags of the record and parent. */
  #insertOne(rec: ExperimentRecord, seq: number): boolean {
    const keep = rec.status === "keep";
    const onFrontier = keep && this.#s.hasLowerKeepChild.get(rec.id, rec.val_bpb) === undefined;
    const params: Row = {
      id: rec.id,
      version: rec.version,
      parent: rec.parent,
      depth: rec.depth,
      code_cid: rec.code_cid,
      diff: rec.diff,
      dataset_cid: rec.dataset_cid,
      prepare_cid: rec.prepare_cid,
      time_budget: rec.time_budget,
      val_bpb: rec.val_bpb,
      peak_vram_mb: rec.peak_vram_mb,
      num_steps: rec.num_steps,
      num_params: rec.num_params,
      status: rec.status,
      description: rec.description,
      hypothesis: rec.hypothesis,
      agent_model: rec.agent_model,
      gpu_model: rec.gpu_model,
      cuda_version: rec.cuda_version,
      torch_version: rec.torch_version,
      node_id: rec.node_id,
      timestamp: rec.timestamp,
      signature: rec.signature,
      seq,
      frontier: onFrontier ? 1 : 0,
      gpu_class: this.#gpuClass(rec.gpu_model),
      canonical: needsCanonical(rec) ? canonicalRecord(rec) : null,
    };
    if (Number(this.#s.insert.run(params).changes) === 0) return false;
    if (keep && rec.parent !== null) this.#s.clearParent.run(rec.parent, rec.val_bpb);
    return true;
  }

  /**
   * Fill our columns for rows without `seq`: a Python-written table on first open, or rows a
   * Python node added to this file since. Runs in one transaction; a no-op when all rows have
   * `seq`.
   */
  #backfill(): void {
    const db = this.#db;
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
      const classes = db.prepare(
        "SELECT DISTINCT gpu_model FROM experiment WHERE seq IS NULL",
      ).all();
      const setClass = db.prepare(
        "UPDATE experiment SET gpu_class = ? WHERE seq IS NULL AND gpu_model = ?",
      );
      for (const { gpu_model } of classes) {
        setClass.run(this.#gpuClass(String(gpu_model)), gpu_model);
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
    const db = this.#db;
    const nulIn = TEXT_FIELDS.map((f) => `instr(CAST(${f} AS BLOB), x'00') > 0`).join(" OR ");
    const blobs = TEXT_FIELDS.map((f) => `CAST(${f} AS BLOB) AS ${f}`).join(", ");
    const rows = db.prepare(
      `SELECT id, version, parent, depth, time_budget, val_bpb, peak_vram_mb, num_steps,
              num_params, timestamp, ${blobs}
       FROM experiment WHERE seq IS NULL AND canonical IS NULL
         AND (val_bpb = 0 OR peak_vram_mb = 0 OR ${nulIn})`,
    ).all();
    const setCanonical = db.prepare("UPDATE experiment SET canonical = ? WHERE id = ?");
    const decoder = new TextDecoder();
    for (const row of rows) {
      const text = (v: SQLInputValue) => v instanceof Uint8Array ? decoder.decode(v) : String(v);
      const base: ExperimentRecord = {
        id: String(row.id),
        version: Number(row.version),
        parent: row.parent === null ? null : String(row.parent),
        depth: Number(row.depth),
        code_cid: text(row.code_cid),
        diff: text(row.diff),
        dataset_cid: text(row.dataset_cid),
        prepare_cid: text(row.prepare_cid),
        time_budget: Number(row.time_budget),
        val_bpb: Number(row.val_bpb),
        peak_vram_mb: Number(row.peak_vram_mb),
        num_steps: Number(row.num_steps),
        num_params: Number(row.num_params),
        status: text(row.status) as ExperimentStatus,
        description: text(row.description),
        hypothesis: text(row.hypothesis),
        agent_model: text(row.agent_model),
        gpu_model: text(row.gpu_model),
        cuda_version: text(row.cuda_version),
        torch_version: text(row.torch_version),
        node_id: text(row.node_id),
        timestamp: Number(row.timestamp),
        signature: text(row.signature),
      };
      const match = signVariants(base).find((r) => recordId(r) === r.id);
      // No match means the row never matched its id (tampered or foreign): leave it as stored.
      if (match && needsCanonical(match)) setCanonical.run(canonicalRecord(match), match.id);
    }
  }
}

/** Create or upgrade the schema. Idempotent; only adds columns and indexes. */
function migrate(db: DatabaseSync, path: string): void {
  inTransaction(db, () => {
    db.exec(PYTHON_EXPERIMENT_DDL);
    const have = columnsOf(db, "experiment");
    for (const required of ["id", "parent", "val_bpb", "status", "gpu_model", "timestamp"]) {
      if (!have.has(required)) {
        throw new StoreError(
          `${path}: table "experiment" has no column "${required}"; this is not a Spore graph ` +
            `database. Move it aside to let a new one be created.`,
        );
      }
    }
    for (const [name, ddl] of ADDED_COLUMNS) {
      if (!have.has(name)) db.exec(`ALTER TABLE experiment ADD COLUMN ${ddl}`);
    }
    for (const sql of INDEXES) db.exec(sql);
  });
}

/** True when the typed columns cannot give back this record's exact signed payload. */
function needsCanonical(rec: ExperimentRecord): boolean {
  if (Object.is(rec.val_bpb, -0) || Object.is(rec.peak_vram_mb, -0)) return true;
  for (const f of TEXT_FIELDS) if (isLossyText(rec[f])) return true;
  return false;
}

/** The record plus every `-0.0` variant of its zero float fields. */
function signVariants(rec: ExperimentRecord): ExperimentRecord[] {
  const vals = rec.val_bpb === 0 ? [0, -0] : [rec.val_bpb];
  const peaks = rec.peak_vram_mb === 0 ? [0, -0] : [rec.peak_vram_mb];
  return vals.flatMap((v) => peaks.map((p) => ({ ...rec, val_bpb: v, peak_vram_mb: p })));
}

/** Rebuild a wire record from a row of {@link RECORD_COLUMNS}. */
function rowToRecord(row: Row): ExperimentRecord {
  if (typeof row.canonical === "string") {
    const payload = JSON.parse(row.canonical) as ExperimentPayload;
    return { id: String(row.id), ...payload, signature: String(row.signature) };
  }
  return {
    id: String(row.id),
    version: Number(row.version),
    parent: row.parent === null ? null : String(row.parent),
    depth: Number(row.depth),
    code_cid: String(row.code_cid),
    diff: String(row.diff),
    dataset_cid: String(row.dataset_cid),
    prepare_cid: String(row.prepare_cid),
    time_budget: Number(row.time_budget),
    val_bpb: Number(row.val_bpb),
    peak_vram_mb: Number(row.peak_vram_mb),
    num_steps: Number(row.num_steps),
    num_params: Number(row.num_params),
    status: String(row.status) as ExperimentStatus,
    description: String(row.description),
    hypothesis: String(row.hypothesis),
    agent_model: String(row.agent_model),
    gpu_model: String(row.gpu_model),
    cuda_version: String(row.cuda_version),
    torch_version: String(row.torch_version),
    node_id: String(row.node_id),
    timestamp: Number(row.timestamp),
    signature: String(row.signature),
  };
}
