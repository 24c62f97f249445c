/**
 * Loss curves of this node's own training runs in `<data>/db/run.sqlite`: (step, loss) points
 * per published experiment, for the explorer's experiment page. They are our local observation
 * of a run, not part of the signed record, and never leave the node.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { StoreError } from "./errors.ts";
import { openWithSchema, SqliteStore } from "./sqlite.ts";

/** Most points stored per run (the recorder downsamples to this). */
export const MAX_CURVE_POINTS = 1000;

/** One point: training step and the loss printed at that step. */
export type CurvePoint = readonly [step: number, loss: number];

const DDL = [`CREATE TABLE IF NOT EXISTS run_curve (experiment_id TEXT PRIMARY KEY,
  points TEXT NOT NULL, recorded_at INTEGER NOT NULL)`];

const RUN_CURVE_SQL = {
  put: "INSERT OR REPLACE INTO run_curve (experiment_id, points, recorded_at) VALUES (?, ?, ?)",
  get: "SELECT points FROM run_curve WHERE experiment_id = ?",
};

/** Per-run loss curves over one SQLite file. */
export class RunCurveStore extends SqliteStore<typeof RUN_CURVE_SQL> {
  private constructor(db: DatabaseSync) {
    super(db, RUN_CURVE_SQL);
  }

  /**
   * Open or create the table at `path`.
   * @throws StoreError when the file is not a SQLite database (it is left unchanged).
   */
  static open(path: string): RunCurveStore {
    return openWithSchema(path, "the run curves", DDL, (db) => new RunCurveStore(db));
  }

  /**
   * Store the curve of experiment `id` (replacing any earlier one).
   * @throws RangeError for more than {@link MAX_CURVE_POINTS} points or a non-finite value.
   */
  put(id: string, points: readonly CurvePoint[], now = Date.now()): void {
    if (points.length > MAX_CURVE_POINTS) {
      throw new RangeError(`at most ${MAX_CURVE_POINTS} curve points, got ${points.length}`);
    }
    if (!points.every(([s, l]) => Number.isFinite(s) && Number.isFinite(l))) {
      throw new RangeError("curve points must be finite numbers");
    }
    this.sql.put.run(id, JSON.stringify(points), Math.floor(now / 1000));
  }

  /** The curve of experiment `id`, or undefined when this node did not record one. */
  get(id: string): CurvePoint[] | undefined {
    const row = this.sql.get.get(id);
    if (!row) return undefined;
    try {
      return JSON.parse(String(row.points)) as CurvePoint[];
    } catch (err) {
      throw new StoreError(`run curve of ${id} is not valid JSON`, { cause: err });
    }
  }
}
