/**
 * Append-only log of control events (challenge, challenge_response, verification, dispute) in
 * `<data>/db/control.sqlite`, deduplicated by type + event id and numbered for replay in sync.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import {
  canonicalJson,
  CONTROL_FLOAT_KEYS,
  CONTROL_TYPES,
  type ControlType,
} from "../protocol/mod.ts";
import { StoreError } from "./errors.ts";
import {
  errText,
  inTransaction,
  MAX_PAGE,
  openWithSchema,
  pageValue,
  SqliteStore,
} from "./sqlite.ts";

/** Largest payload text we keep; real events are a few hundred bytes. */
export const MAX_CONTROL_PAYLOAD = 64 * 1024;

const DDL = [
  `CREATE TABLE IF NOT EXISTS control_event (seq INTEGER PRIMARY KEY AUTOINCREMENT,
     type TEXT NOT NULL, event_id TEXT NOT NULL, experiment_id TEXT, payload TEXT NOT NULL,
     UNIQUE (type, event_id))`,
  "CREATE INDEX IF NOT EXISTS ix_ts_control_experiment ON control_event(experiment_id, seq)",
];

/** One logged event. */
export interface LoggedControl {
  seq: number;
  type: ControlType;
  payload: Record<string, unknown>;
}

/** The control log's statements. */
const CONTROL_SQL = {
  append: "INSERT INTO control_event (type, event_id, experiment_id, payload) " +
    "VALUES (?, ?, ?, ?)",
  has: "SELECT 1 AS x FROM control_event WHERE type = ? AND event_id = ?",
  get: "SELECT payload FROM control_event WHERE type = ? AND event_id = ?",
  afterSeq: "SELECT seq, type, payload FROM control_event WHERE seq > ? ORDER BY seq LIMIT ?",
  maxSeq: "SELECT COALESCE(MAX(seq), 0) AS m FROM control_event",
  countByType: "SELECT type, COUNT(*) AS n FROM control_event GROUP BY type",
  byExperiment:
    "SELECT seq, type, payload FROM control_event WHERE experiment_id = ? ORDER BY seq LIMIT ?",
};

/** Control-event log over one SQLite file. */
export class ControlLog extends SqliteStore<typeof CONTROL_SQL> {
  private constructor(db: DatabaseSync) {
    super(db, CONTROL_SQL);
  }

  /**
   * Open or create the log at `path`.
   * @throws StoreError when the file is not a SQLite database (it is left unchanged).
   */
  static open(path: string): ControlLog {
    return openWithSchema(path, "the control log", DDL, (db) => new ControlLog(db));
  }

  /**
   * Log an event; returns its sequence number, or null when this type + `payload.event_id` is
   * already logged. The payload is kept as JSON text: its canonical form when it has one (so
   * signed bytes, `-0.0` included, survive), else plain JSON.
   * @throws StoreError for an unknown type, a missing event_id or a payload that is not JSON.
   */
  append(type: ControlType, payload: Record<string, unknown>): number | null {
    if (!CONTROL_TYPES.includes(type)) {
      throw new StoreError(`unknown control event type "${String(type).slice(0, 32)}"`);
    }
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
      throw new StoreError(`${type} payload must be an object`);
    }
    const eventId = payload.event_id;
    if (typeof eventId !== "string" || eventId === "") {
      throw new StoreError(`${type} payload needs a non-empty string event_id`);
    }
    const experimentId = typeof payload.experiment_id === "string" ? payload.experiment_id : null;
    const text = payloadText(type, payload);
    return inTransaction(this.db, () => {
      // Checked first: an ignored INSERT would still consume an AUTOINCREMENT number.
      if (this.sql.has.get(type, eventId) !== undefined) return null;
      return Number(this.sql.append.run(type, eventId, experimentId, text).lastInsertRowid);
    });
  }

  /** True when this event is logged. */
  has(type: ControlType, eventId: string): boolean {
    return this.sql.has.get(type, eventId) !== undefined;
  }

  /** The logged payload, or undefined. */
  get(type: ControlType, eventId: string): Record<string, unknown> | undefined {
    const row = this.sql.get.get(type, eventId);
    return row ? JSON.parse(String(row.payload)) : undefined;
  }

  /** Events logged after `seq`, oldest first. */
  afterSeq(seq: number, limit: number): LoggedControl[] {
    const from = Number.isFinite(seq) ? Math.max(0, Math.floor(seq)) : 0;
    return this.sql.afterSeq.all(from, pageValue(limit, "limit", MAX_PAGE)).map(toLogged);
  }

  /** Highest sequence number in use (0 when empty). */
  maxSeq(): number {
    return Number(this.sql.maxSeq.get()?.m ?? 0);
  }

  /** Every event about one experiment, oldest first (at most {@link MAX_PAGE}). */
  byExperiment(experimentId: string): LoggedControl[] {
    return this.sql.byExperiment.all(experimentId, MAX_PAGE).map(toLogged);
  }

  /** Logged events by type (types without events are absent). */
  countByType(): Map<string, number> {
    return new Map(this.sql.countByType.all().map((r) => [String(r.type), Number(r.n)]));
  }
}

function payloadText(type: ControlType, payload: Record<string, unknown>): string {
  let text: string;
  try {
    text = canonicalJson(payload, CONTROL_FLOAT_KEYS);
  } catch {
    // Extension fields may hold non-integer numbers outside the float schema; plain JSON
    // keeps their values.
    try {
      text = JSON.stringify(payload);
    } catch (err) {
      throw new StoreError(`${type} payload is not JSON: ${errText(err)}`);
    }
  }
  if (text.length > MAX_CONTROL_PAYLOAD) {
    throw new StoreError(`${type} payload is ${text.length} bytes, over ${MAX_CONTROL_PAYLOAD}`);
  }
  return text;
}

function toLogged(row: Record<string, unknown>): LoggedControl {
  return {
    seq: Number(row.seq),
    type: String(row.type) as ControlType,
    payload: JSON.parse(String(row.payload)),
  };
}
