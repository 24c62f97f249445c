/**
 * Reputation ledger in `<data>/db/reputation.sqlite` (PROTOCOL.md sections 7, 9): one row per
 * node, and the ids of every event already applied so replays change nothing.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { StoreError } from "./errors.ts";
import { inTransaction, MAX_PAGE, openWithSchema, pageValue, SqliteStore } from "./sqlite.ts";

/** A `reputation` row; unknown nodes read as all zeros. */
export interface ReputationRow {
  node_id: string;
  score: number;
  experiments_published: number;
  experiments_verified: number;
  verifications_performed: number;
  disputes_won: number;
  disputes_lost: number;
}

/** Change to one node's row; counters are integer increments, `score` is added then clamped. */
export interface ReputationDelta {
  nodeId: string;
  score?: number;
  experiments_verified?: number;
  verifications_performed?: number;
  disputes_won?: number;
  disputes_lost?: number;
}

/** Score bounds shared with the Python network. */
export const SCORE_MIN = -100;
/** Score bounds shared with the Python network. */
export const SCORE_MAX = 100;

const COUNTERS = [
  "experiments_verified",
  "verifications_performed",
  "disputes_won",
  "disputes_lost",
] as const;

const DDL = [
  `CREATE TABLE IF NOT EXISTS reputation (node_id TEXT PRIMARY KEY, score REAL NOT NULL DEFAULT 0,
     experiments_published INTEGER NOT NULL DEFAULT 0, experiments_verified INTEGER NOT NULL DEFAULT 0,
     verifications_performed INTEGER NOT NULL DEFAULT 0, disputes_won INTEGER NOT NULL DEFAULT 0,
     disputes_lost INTEGER NOT NULL DEFAULT 0)`,
  "CREATE TABLE IF NOT EXISTS reputation_event (event_id TEXT PRIMARY KEY, kind TEXT)",
  "CREATE INDEX IF NOT EXISTS ix_ts_reputation_score ON reputation(score DESC, node_id)",
];

const ROW_COLUMNS = "node_id, score, experiments_published, experiments_verified, " +
  "verifications_performed, disputes_won, disputes_lost";

/** The reputation ledger's statements. */
const REPUTATION_SQL = {
  get: `SELECT ${ROW_COLUMNS} FROM reputation WHERE node_id = ?`,
  ensure: "INSERT OR IGNORE INTO reputation (node_id, score, experiments_published, " +
    "experiments_verified, verifications_performed, disputes_won, disputes_lost) " +
    "VALUES (?, 0, 0, 0, 0, 0, 0)",
  // COALESCE because a Python-written row may hold NULLs; the clamp keeps the network's rule.
  apply: `UPDATE reputation SET
           score = MIN(${SCORE_MAX}, MAX(${SCORE_MIN}, COALESCE(score, 0) + $score)),
           experiments_verified = COALESCE(experiments_verified, 0) + $experiments_verified,
           verifications_performed = COALESCE(verifications_performed, 0) + $verifications_performed,
           disputes_won = COALESCE(disputes_won, 0) + $disputes_won,
           disputes_lost = COALESCE(disputes_lost, 0) + $disputes_lost
         WHERE node_id = $node_id`,
  publish: "UPDATE reputation SET experiments_published = COALESCE(experiments_published, 0) + 1 " +
    "WHERE node_id = ?",
  publishN:
    "UPDATE reputation SET experiments_published = COALESCE(experiments_published, 0) + ? " +
    "WHERE node_id = ?",
  addEvent: "INSERT OR IGNORE INTO reputation_event (event_id, kind) VALUES (?, ?)",
  hasEvent: "SELECT 1 AS x FROM reputation_event WHERE event_id = ?",
  leaderboard:
    `SELECT ${ROW_COLUMNS} FROM reputation ORDER BY score DESC, node_id LIMIT ? OFFSET ?`,
};

/** Reputation rows and applied-event ids over one SQLite file. */
export class ReputationStore extends SqliteStore<typeof REPUTATION_SQL> {
  private constructor(db: DatabaseSync) {
    super(db, REPUTATION_SQL);
  }

  /**
   * Open or create the ledger at `path`.
   * @throws StoreError when the file is not a SQLite database (it is left unchanged).
   */
  static open(path: string): ReputationStore {
    return openWithSchema(path, "the reputation tables", DDL, (db) => new ReputationStore(db));
  }

  /** The node's row; zeros for a node never seen. */
  get(nodeId: string): ReputationRow {
    const row = this.sql.get.get(nodeId);
    return row ? toRow(row) : zeroRow(nodeId);
  }

  /**
   * Apply one network event atomically: record `eventId` and every delta, or nothing. Returns
   * false (and changes nothing) when the event was applied before.
   * @throws StoreError when a delta is malformed; nothing is applied then.
   */
  applyEvent(eventId: string, kind: string, deltas: readonly ReputationDelta[]): boolean {
    if (typeof eventId !== "string" || eventId === "") {
      throw new StoreError("reputation event id must be a non-empty string");
    }
    const checked = deltas.map(checkDelta);
    return inTransaction(this.db, () => {
      if (Number(this.sql.addEvent.run(eventId, String(kind)).changes) === 0) return false;
      for (const d of checked) {
        this.sql.ensure.run(d.nodeId);
        this.sql.apply.run({
          node_id: d.nodeId,
          score: d.score ?? 0,
          experiments_verified: d.experiments_verified ?? 0,
          verifications_performed: d.verifications_performed ?? 0,
          disputes_won: d.disputes_won ?? 0,
          disputes_lost: d.disputes_lost ?? 0,
        });
      }
      return true;
    });
  }

  /** Count a published experiment for its node, once per experiment id; true when counted now. */
  recordPublish(nodeId: string, experimentId: string): boolean {
    if (typeof nodeId !== "string" || nodeId === "" || typeof experimentId !== "string") {
      throw new StoreError("recordPublish needs a node id and an experiment id");
    }
    return inTransaction(this.db, () => {
      // Namespaced so a publish can never collide with a network event id.
      if (Number(this.sql.addEvent.run(`publish:${experimentId}`, "publish").changes) === 0) {
        return false;
      }
      this.sql.ensure.run(nodeId);
      this.sql.publish.run(nodeId);
      return true;
    });
  }

  /**
   * Add newly stored records to their publishers' `experiments_published`, in one transaction.
   * The caller guarantees each record is counted once (the graph reports a record only when it
   * stores it the first time), so no per-record ledger row is written: sync stores thousands of
   * records a second.
   */
  addPublished(counts: ReadonlyMap<string, number>): void {
    for (const [nodeId, n] of counts) {
      if (typeof nodeId !== "string" || nodeId === "" || !Number.isSafeInteger(n) || n < 0) {
        throw new StoreError("addPublished needs node ids and non-negative counts");
      }
    }
    inTransaction(this.db, () => {
      for (const [nodeId, n] of counts) {
        this.sql.ensure.run(nodeId);
        this.sql.publishN.run(n, nodeId);
      }
    });
  }

  /** True when an event with this id has been applied. */
  hasEvent(eventId: string): boolean {
    return this.sql.hasEvent.get(eventId) !== undefined;
  }

  /** Rows by score, highest first, paged. */
  leaderboard(limit: number, offset = 0): ReputationRow[] {
    return this.sql.leaderboard
      .all(pageValue(limit, "limit", MAX_PAGE), pageValue(offset, "offset"))
      .map(toRow);
  }
}

function checkDelta(d: ReputationDelta): ReputationDelta {
  if (typeof d !== "object" || d === null || typeof d.nodeId !== "string" || d.nodeId === "") {
    throw new StoreError("reputation delta needs a non-empty nodeId");
  }
  if (d.score !== undefined && !Number.isFinite(d.score)) {
    throw new StoreError(`reputation delta for ${d.nodeId}: score must be a finite number`);
  }
  for (const c of COUNTERS) {
    const v = d[c];
    if (v !== undefined && !Number.isSafeInteger(v)) {
      throw new StoreError(`reputation delta for ${d.nodeId}: ${c} must be an integer`);
    }
  }
  return d;
}

function zeroRow(nodeId: string): ReputationRow {
  return {
    node_id: nodeId,
    score: 0,
    experiments_published: 0,
    experiments_verified: 0,
    verifications_performed: 0,
    disputes_won: 0,
    disputes_lost: 0,
  };
}

function toRow(r: Record<string, unknown>): ReputationRow {
  return {
    node_id: String(r.node_id),
    score: Number(r.score ?? 0),
    experiments_published: Number(r.experiments_published ?? 0),
    experiments_verified: Number(r.experiments_verified ?? 0),
    verifications_performed: Number(r.verifications_performed ?? 0),
    disputes_won: Number(r.disputes_won ?? 0),
    disputes_lost: Number(r.disputes_lost ?? 0),
  };
}
