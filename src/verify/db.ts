/**
 * Verification state in `<data>/db/verify.sqlite`: the authenticated control events this node
 * holds as evidence (and whether each was applied, is waiting, or was refused), the challenges
 * this node opened and still waits on, the challenges it promised to answer, and an index of
 * which nodes have shown which GPU class (to count independent verifiers).
 *
 * Kept apart from the control log on purpose: the log keeps the first copy of an event id that
 * arrives, forged or not, while this file only ever holds copies that passed the signature rules.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { canonicalJson, CONTROL_FLOAT_KEYS } from "../protocol/mod.ts";
import type { ControlEvent, ControlType } from "../protocol/types.ts";
import { inTransaction, openWithSchema, SqliteStore } from "../store/mod.ts";

/** Where an evidence event stands. */
export type EvidenceState = "pending" | "applied" | "invalid";

/** One held event and its state. */
export interface EvidenceRow {
  event: ControlEvent;
  state: EvidenceState;
  reason: string;
}

/** A challenge this node opened and waits on. */
export interface PendingChallenge {
  experimentId: string;
  /** Responses wanted: min(3, independent verifiers available when it opened). */
  required: number;
  /** Clock time (ms) after which it resolves with what it has. */
  deadlineMs: number;
}

/** A challenge by another node that this node has promised to answer. */
export interface OwedAnswer {
  experimentId: string;
  challengerId: string;
}

const DDL = [
  `CREATE TABLE IF NOT EXISTS evidence (type TEXT NOT NULL, event_id TEXT NOT NULL,
     experiment_id TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL,
     reason TEXT NOT NULL DEFAULT '', PRIMARY KEY (type, event_id))`,
  "CREATE INDEX IF NOT EXISTS ix_evidence_experiment ON evidence(experiment_id, state)",
  `CREATE TABLE IF NOT EXISTS pending_challenge (experiment_id TEXT PRIMARY KEY,
     required INTEGER NOT NULL, deadline_ms INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS owed_answer (experiment_id TEXT NOT NULL,
     challenger_id TEXT NOT NULL, PRIMARY KEY (experiment_id, challenger_id))`,
  `CREATE TABLE IF NOT EXISTS node_class (node_id TEXT NOT NULL, gpu_class TEXT NOT NULL,
     PRIMARY KEY (gpu_class, node_id))`,
  "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

/** The verification database's statements. */
const VERIFY_SQL = {
  get: "SELECT type, payload, state, reason FROM evidence WHERE type = ? AND event_id = ?",
  insert: "INSERT OR IGNORE INTO evidence (type, event_id, experiment_id, payload, state) " +
    "VALUES (?, ?, ?, ?, 'pending')",
  setState: "UPDATE evidence SET state = ?, reason = ? WHERE type = ? AND event_id = ?",
  byExperiment:
    "SELECT type, payload, state, reason FROM evidence WHERE experiment_id = ? AND state = ? " +
    "ORDER BY rowid",
  addPending: "INSERT OR IGNORE INTO pending_challenge (experiment_id, required, deadline_ms) " +
    "VALUES (?, ?, ?)",
  delPending: "DELETE FROM pending_challenge WHERE experiment_id = ?",
  getPending:
    "SELECT experiment_id, required, deadline_ms FROM pending_challenge WHERE experiment_id = ?",
  allPending:
    "SELECT experiment_id, required, deadline_ms FROM pending_challenge ORDER BY deadline_ms",
  addOwed: "INSERT OR IGNORE INTO owed_answer (experiment_id, challenger_id) VALUES (?, ?)",
  delOwed: "DELETE FROM owed_answer WHERE experiment_id = ? AND challenger_id = ?",
  allOwed: "SELECT experiment_id, challenger_id FROM owed_answer ORDER BY rowid",
  addClass: "INSERT OR IGNORE INTO node_class (node_id, gpu_class) VALUES (?, ?)",
  countClass: "SELECT COUNT(*) AS n FROM node_class WHERE gpu_class = ? AND node_id NOT IN (?, ?)",
  pendingExperiments: "SELECT DISTINCT experiment_id FROM evidence WHERE state = 'pending'",
  getMeta: "SELECT value FROM meta WHERE key = ?",
  setMeta:
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
};

/** Path of the verification database below a data dir. */
export function verifyDbPath(dataDir: string): string {
  return join(dataDir, "db", "verify.sqlite");
}

/** Synchronous access to `verify.sqlite`; one instance per file. */
export class VerifyDb extends SqliteStore<typeof VERIFY_SQL> {
  readonly #notedClasses = new Set<string>();
  /**
   * Experiments that may have pending events (a superset: an id leaves once a read finds none).
   * Every stored record asks, and almost none has any: this answers without a query.
   */
  readonly #maybePending = new Set<string>();

  private constructor(db: DatabaseSync) {
    super(db, VERIFY_SQL);
    for (const row of this.sql.pendingExperiments.all()) {
      this.#maybePending.add(String(row.experiment_id));
    }
  }

  /**
   * Open or create the database at `path` (`:memory:` for tests), with the stores' pragmas.
   * @throws StoreError naming the file when it cannot be opened or is not a database (it is
   * left unchanged).
   */
  static open(path: string): VerifyDb {
    return openWithSchema(path, "the verification database", DDL, (db) => new VerifyDb(db));
  }

  /** The held copy of an event, or undefined. */
  get(type: ControlType, eventId: string): EvidenceRow | undefined {
    const row = this.sql.get.get(type, eventId);
    return row ? toEvidence(row) : undefined;
  }

  /** Hold an authenticated event as pending; false when this type + id is already held. */
  hold(event: ControlEvent): boolean {
    const p = event.payload;
    const added = Number(
      this.sql.insert.run(event.type, p.event_id, p.experiment_id, payloadText(p)).changes,
    ) > 0;
    if (added) this.#maybePending.add(p.experiment_id);
    return added;
  }

  /** Record the outcome of judging a held event. */
  setState(type: ControlType, eventId: string, state: EvidenceState, reason = ""): void {
    this.sql.setState.run(state, reason.slice(0, 500), type, eventId);
  }

  /** Held events about one experiment in a given state, in arrival order. */
  byExperiment(experimentId: string, state: EvidenceState): EvidenceRow[] {
    if (state === "pending" && !this.#maybePending.has(experimentId)) return [];
    const rows = this.sql.byExperiment.all(experimentId, state).map(toEvidence);
    if (state === "pending" && rows.length === 0) this.#maybePending.delete(experimentId);
    return rows;
  }

  /** Remember a challenge this node opened. */
  addPendingChallenge(c: PendingChallenge): void {
    this.sql.addPending.run(c.experimentId, c.required, Math.floor(c.deadlineMs));
  }

  /** The open challenge of this node on an experiment, if any. */
  pendingChallenge(experimentId: string): PendingChallenge | undefined {
    const row = this.sql.getPending.get(experimentId);
    return row ? toPending(row) : undefined;
  }

  /** Every challenge this node still waits on, soonest deadline first. */
  pendingChallenges(): PendingChallenge[] {
    return this.sql.allPending.all().map(toPending);
  }

  /** Forget a challenge once its dispute is sent (or it expired without responses). */
  removePendingChallenge(experimentId: string): void {
    this.sql.delPending.run(experimentId);
  }

  /** Promise to answer a challenge (survives a restart until answered). */
  addOwedAnswer(a: OwedAnswer): void {
    this.sql.addOwed.run(a.experimentId, a.challengerId);
  }

  /** Drop a promise once answered or no longer answerable. */
  removeOwedAnswer(a: OwedAnswer): void {
    this.sql.delOwed.run(a.experimentId, a.challengerId);
  }

  /** Every challenge this node still owes an answer to. */
  owedAnswers(): OwedAnswer[] {
    return this.sql.allOwed.all().map((r) => ({
      experimentId: String(r.experiment_id),
      challengerId: String(r.challenger_id),
    }));
  }

  /** Note that `nodeId` has shown GPU class `gpuClass` (a record or an accepted event). */
  noteNodeClass(nodeId: string, gpuClass: string): void {
    // Called for every stored record (thousands a second in sync) with few distinct pairs: an
    // autocommitted INSERT each time would be the costliest step of ingest.
    const key = `${nodeId}\u0000${gpuClass}`;
    if (this.#notedClasses.has(key)) return;
    this.sql.addClass.run(nodeId, gpuClass);
    if (this.#notedClasses.size >= 100_000) this.#notedClasses.clear();
    this.#notedClasses.add(key);
  }

  /** Nodes known in `gpuClass`, not counting the two excluded ids. */
  countNodesInClass(gpuClass: string, exclude: readonly [string, string]): number {
    return Number(this.sql.countClass.get(gpuClass, exclude[0], exclude[1])?.n ?? 0);
  }

  /** A stored cursor or other small value. */
  getMeta(key: string): string | undefined {
    const row = this.sql.getMeta.get(key);
    return row ? String(row.value) : undefined;
  }

  /** Store a cursor or other small value. */
  setMeta(key: string, value: string): void {
    this.sql.setMeta.run(key, value);
  }

  /** Run `fn` in one write transaction. */
  transaction<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }
}

function payloadText(payload: Record<string, unknown>): string {
  try {
    // Canonical text keeps float fields (and -0.0) exactly as signed.
    return canonicalJson(payload, CONTROL_FLOAT_KEYS);
  } catch {
    // A legacy unsigned payload may carry extension numbers outside the float schema.
    return JSON.stringify(payload);
  }
}

function toEvidence(row: Record<string, unknown>): EvidenceRow {
  return {
    event: { type: String(row.type), payload: JSON.parse(String(row.payload)) } as ControlEvent,
    state: String(row.state) as EvidenceState,
    reason: String(row.reason ?? ""),
  };
}

function toPending(row: Record<string, unknown>): PendingChallenge {
  return {
    experimentId: String(row.experiment_id),
    required: Number(row.required),
    deadlineMs: Number(row.deadline_ms),
  };
}
