/**
 * What this node is training right now, for the explorer's live run card: the research loop
 * says what a run is (baseline or experiment N, its mutation and parent), the trainer's progress
 * lines fill in step, loss and ETA, and the finished run's loss curve is stored for the
 * experiment page (this node's own runs only; never part of the signed record).
 * @module
 */
import type { ExperimentRecord } from "../protocol/types.ts";
import type { TrainProgressUpdate } from "../node_types.ts";
import { type CurvePoint, MAX_CURVE_POINTS, type RunCurveStore } from "../store/mod.ts";
import { safetyCatch } from "../errors.ts";

/** Characters of description and hypothesis carried in a live run (the page has the rest). */
const MAX_TEXT = 600;

/** A run as the live card shows it. */
export interface LiveRun {
  /** Increments per run of this node process. */
  run: number;
  kind: "baseline" | "experiment";
  /** "baseline" or "experiment N" (with "/M" under --max-experiments). */
  label: string;
  /** Parent selection mode of an experiment ("exploit" builds on the best, "explore" elsewhere). */
  mode: string | null;
  description: string;
  hypothesis: string;
  parent: string | null;
  parent_val_bpb: number | null;
  phase: "starting" | "training" | "evaluating" | "done" | "finished" | "stopped";
  step: number | null;
  /** Steps of the whole run, estimated from step and percent. */
  total_steps: number | null;
  percent: number | null;
  loss: number | null;
  eta_seconds: number | null;
  elapsed_seconds: number;
  /** Unix seconds. */
  started_at: number;
  /** The published record, once the run is finished. */
  result: { id: string; status: string; val_bpb: number | null } | null;
}

/** What the research loop knows when a run starts. */
export interface RunStart {
  kind: LiveRun["kind"];
  label: string;
  mode?: string;
  description: string;
  hypothesis?: string;
  parent?: ExperimentRecord | null;
}

/** The current run of this node and its listeners. */
export class LiveRuns {
  readonly #curves: RunCurveStore | undefined;
  readonly #listeners = new Set<(run: LiveRun) => void>();
  readonly #now: () => number;
  #current: LiveRun | undefined;
  #curve: CurvePoint[] = [];
  #curveStride = 1;
  #latest: CurvePoint | undefined;
  #count = 0;

  /** `curves` keeps finished runs' loss curves; `now` is milliseconds since the epoch. */
  constructor(curves?: RunCurveStore, now: () => number = Date.now) {
    this.#curves = curves;
    this.#now = now;
  }

  /** The run in progress, else the last one (finished or stopped), else undefined. */
  current(): LiveRun | undefined {
    return this.#current ? { ...this.#current } : undefined;
  }

  /** The loss curve recorded so far for the current run. */
  curve(): CurvePoint[] {
    const latest = this.#latest;
    const last = this.#curve[this.#curve.length - 1];
    return latest && latest !== last ? [...this.#curve, latest] : [...this.#curve];
  }

  /** Subscribe to every change of the current run; returns the unsubscribe function. */
  on(listener: (run: LiveRun) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A run begins. */
  start(s: RunStart): void {
    const parent = s.parent ?? null;
    this.#curve = [];
    this.#curveStride = 1;
    this.#latest = undefined;
    this.#current = {
      run: ++this.#count,
      kind: s.kind,
      label: s.label,
      mode: s.mode ?? null,
      description: s.description.slice(0, MAX_TEXT),
      hypothesis: (s.hypothesis ?? "").slice(0, MAX_TEXT),
      parent: parent?.id ?? null,
      parent_val_bpb: parent && parent.status !== "crash" ? parent.val_bpb : null,
      phase: "starting",
      step: null,
      total_steps: null,
      percent: null,
      loss: null,
      eta_seconds: null,
      elapsed_seconds: 0,
      started_at: Math.floor(this.#now() / 1000),
      result: null,
    };
    this.#tell();
  }

  /** A progress line or phase change of the running training. */
  progress(u: TrainProgressUpdate): void {
    const run = this.#current;
    if (!run || run.result || run.phase === "stopped") return;
    run.phase = u.phase;
    run.elapsed_seconds = Math.round(u.elapsedSeconds);
    if (u.step !== undefined && u.loss !== undefined) {
      run.step = u.step;
      run.loss = u.loss;
      this.#addPoint(u.step, u.loss);
    }
    if (u.percent !== undefined) {
      run.percent = u.percent;
      if (u.step !== undefined && u.percent > 0) {
        run.total_steps = Math.round(u.step * 100 / u.percent);
      }
      run.eta_seconds = u.remainingSeconds ??
        (u.percent > 0 ? Math.round(u.elapsedSeconds * (100 - u.percent) / u.percent) : null);
    }
    this.#tell();
  }

  /** The run was published as `record`; its loss curve is stored under the record's id. */
  finish(record: ExperimentRecord): void {
    const run = this.#current;
    if (!run) return;
    run.phase = "finished";
    run.eta_seconds = null;
    run.result = {
      id: record.id,
      status: record.status,
      val_bpb: record.status === "crash" ? null : record.val_bpb,
    };
    const curve = this.curve();
    if (this.#curves && curve.length > 0) this.#curves.put(record.id, curve);
    this.#tell();
  }

  /** The run ended without a record (stopped, or publishing failed). */
  stop(): void {
    const run = this.#current;
    if (!run || run.result) return;
    run.phase = "stopped";
    run.eta_seconds = null;
    this.#tell();
  }

  /**
   * Keep steps on a stride (doubling whenever MAX_CURVE_POINTS would be passed) plus the
   * latest point, so a run printing every step of thousands still has an even, bounded curve.
   */
  #addPoint(step: number, loss: number): void {
    if (!Number.isFinite(step) || !Number.isFinite(loss)) return;
    if (this.#latest && step <= this.#latest[0]) return; // a repeated or out-of-order line
    const point: CurvePoint = [step, loss];
    this.#latest = point;
    if (step % this.#curveStride !== 0) return;
    this.#curve.push(point);
    if (this.#curve.length >= MAX_CURVE_POINTS) {
      this.#curveStride *= 2;
      this.#curve = this.#curve.filter(([s]) => s % this.#curveStride === 0);
    }
  }

  #tell(): void {
    const run = this.current();
    if (!run) return;
    for (const l of this.#listeners) {
      try {
        l(run);
      } catch (e) {
        safetyCatch(e); // a failing view must not stop training
      }
    }
  }
}
