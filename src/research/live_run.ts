/**
 * What this node is training right now, for the explorer's live run card. Two sources start
 * runs: the research loop (baseline or experiment N, its mutation and parent) and the verifier
 * (a rerun of another node's experiment, to check its claimed val_bpb). The trainer's progress
 * lines fill in step, loss and ETA; a research run ends with its published record, a
 * verification rerun with the verifier's verdict.
 *
 * Both share one training queue, so a run can be announced while another still trains: the
 * card keeps showing the training one and switches to the newcomer on its first progress line
 * (the runner emits none before the run holds the queue).
 *
 * A research run's loss curve is stored for the experiment page (this node's own runs only;
 * never part of the signed record). A verification rerun's curve is shown live but not stored:
 * the experiment is another node's, and its page's curve panel means "this node's run of its
 * own experiment"; a rerun stored under that id would read as the publisher's training.
 * @module
 */
import type { ExperimentRecord } from "../protocol/types.ts";
import type { TrainProgressUpdate } from "../node_types.ts";
import { type CurvePoint, MAX_CURVE_POINTS, type RunCurveStore } from "../store/mod.ts";
import { safetyCatch } from "../errors.ts";

/** Characters of description and hypothesis carried in a live run (the page has the rest). */
const MAX_TEXT = 600;
/** Characters of a verdict's detail line (a crash reason can be long; the log has all of it). */
const MAX_DETAIL = 300;

/** What the verifier did with a finished rerun. */
export type VerdictOutcome =
  /** Within tolerance of the claim: a signed `verification` was sent. */
  | "verified"
  /** Outside tolerance: this node opened a challenge. */
  | "challenged"
  /** Outside tolerance, and someone else's challenge is open: the rerun will answer it. */
  | "answering"
  /** The rerun was sent as a `challenge_response` to another node's challenge. */
  | "answered"
  /** Nothing was sent (the rerun failed, no independent verifier exists, a dispute came first). */
  | "no verdict";

/** The end of a verification rerun, as the card shows it. */
export interface Verdict {
  outcome: VerdictOutcome;
  /** This node's rerun val_bpb; null when the rerun gave none. */
  val_bpb: number | null;
  /** Whether the rerun is within the class's tolerance of the claim; null without a rerun value. */
  within_tolerance: boolean | null;
  /** One line for people: why this outcome. */
  detail: string;
}

/** A run as the live card shows it. */
export interface LiveRun {
  /** Increments per run of this node process. */
  run: number;
  kind: "baseline" | "experiment" | "verification";
  /** "baseline", "experiment N" (with "/M" under --max-experiments) or "verifying X from Y". */
  label: string;
  /** Parent selection mode of an experiment ("exploit" builds on the best, "explore" elsewhere). */
  mode: string | null;
  description: string;
  hypothesis: string;
  parent: string | null;
  parent_val_bpb: number | null;
  /** A verification rerun's subject: the experiment, its publisher and the val_bpb it claims. */
  verifies: { id: string; node_id: string; claimed_val_bpb: number } | null;
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
  /** The published record, once a research run is finished. */
  result: { id: string; status: string; val_bpb: number | null } | null;
  /** What the verifier decided, once a verification rerun is finished. */
  verdict: Verdict | null;
}

/** What the research loop knows when a run starts. */
export interface RunStart {
  kind: "baseline" | "experiment";
  label: string;
  mode?: string;
  description: string;
  hypothesis?: string;
  parent?: ExperimentRecord | null;
}

/** One run's updates; every method is a no-op once the run ended. */
export interface LiveRunHandle {
  /** A progress line or phase change of this run's training. */
  progress(u: TrainProgressUpdate): void;
  /** The run ended without a result (stopped, failed to start, or publishing failed). */
  stop(): void;
}

/** A research run: it ends published. */
export interface ResearchRunHandle extends LiveRunHandle {
  /** The run was published as `record`; its loss curve is stored under the record's id. */
  finish(record: ExperimentRecord): void;
}

/** A verification rerun: it ends with the verifier's verdict, and its curve is never stored. */
export interface VerificationRunHandle extends LiveRunHandle {
  verdict(verdict: Verdict): void;
}

/** A run and its curve. */
class Entry {
  /** Steps kept on a stride, so the curve stays bounded and evenly spaced. */
  points: CurvePoint[] = [];
  stride = 1;
  latest: CurvePoint | undefined;
  /** Progress came: the run holds the training queue. */
  trained = false;
  ended = false;

  constructor(readonly run: LiveRun) {}

  curve(): CurvePoint[] {
    const last = this.points[this.points.length - 1];
    return this.latest && this.latest !== last ? [...this.points, this.latest] : [...this.points];
  }

  /**
   * Keep steps on a stride (doubling whenever MAX_CURVE_POINTS would be passed) plus the
   * latest point, so a run printing every step of thousands still has an even, bounded curve.
   */
  addPoint(step: number, loss: number): void {
    if (!Number.isFinite(step) || !Number.isFinite(loss)) return;
    if (this.latest && step <= this.latest[0]) return; // a repeated or out-of-order line
    const point: CurvePoint = [step, loss];
    this.latest = point;
    if (step % this.stride !== 0) return;
    this.points.push(point);
    if (this.points.length >= MAX_CURVE_POINTS) {
      this.stride *= 2;
      this.points = this.points.filter(([s]) => s % this.stride === 0);
    }
  }
}

/** The run the card shows and its listeners. */
export class LiveRuns {
  readonly #curves: RunCurveStore | undefined;
  readonly #listeners = new Set<(run: LiveRun) => void>();
  readonly #now: () => number;
  #shown: Entry | undefined;
  #count = 0;

  /** `curves` keeps finished research runs' loss curves; `now` is milliseconds since the epoch. */
  constructor(curves?: RunCurveStore, now: () => number = Date.now) {
    this.#curves = curves;
    this.#now = now;
  }

  /** The run in progress, else the last one shown (finished or stopped), else undefined. */
  current(): LiveRun | undefined {
    const run = this.#shown?.run;
    return run ? structuredClone(run) : undefined;
  }

  /** The loss curve recorded so far for the run {@link current} returns. */
  curve(): CurvePoint[] {
    return this.#shown?.curve() ?? [];
  }

  /** Subscribe to every change of the shown run; returns the unsubscribe function. */
  on(listener: (run: LiveRun) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A research run (baseline or experiment) begins. */
  start(s: RunStart): ResearchRunHandle {
    const parent = s.parent ?? null;
    const entry = this.#begin({
      kind: s.kind,
      label: s.label,
      mode: s.mode ?? null,
      description: s.description,
      hypothesis: s.hypothesis ?? "",
      parent: parent?.id ?? null,
      parent_val_bpb: parent && parent.status !== "crash" ? parent.val_bpb : null,
      verifies: null,
    });
    return { ...this.#handle(entry), finish: (record) => this.#finish(entry, record) };
  }

  /** A verification rerun of `record` (another node's experiment) begins; `label` says whose. */
  startVerification(record: ExperimentRecord, label: string): VerificationRunHandle {
    const entry = this.#begin({
      kind: "verification",
      label,
      mode: null,
      description: record.description,
      hypothesis: record.hypothesis,
      parent: null,
      parent_val_bpb: null,
      verifies: { id: record.id, node_id: record.node_id, claimed_val_bpb: record.val_bpb },
    });
    return { ...this.#handle(entry), verdict: (v) => this.#verdict(entry, v) };
  }

  #begin(
    what: Pick<
      LiveRun,
      | "kind"
      | "label"
      | "mode"
      | "description"
      | "hypothesis"
      | "parent"
      | "parent_val_bpb"
      | "verifies"
    >,
  ): Entry {
    const entry = new Entry({
      run: ++this.#count,
      ...what,
      description: what.description.slice(0, MAX_TEXT),
      hypothesis: what.hypothesis.slice(0, MAX_TEXT),
      phase: "starting",
      step: null,
      total_steps: null,
      percent: null,
      loss: null,
      eta_seconds: null,
      elapsed_seconds: 0,
      started_at: Math.floor(this.#now() / 1000),
      result: null,
      verdict: null,
    });
    // A run that trains keeps the card until it ends; this one waits in the queue behind it.
    const busy = this.#shown !== undefined && this.#shown.trained && !this.#shown.ended;
    if (!busy) this.#show(entry);
    return entry;
  }

  #handle(entry: Entry): LiveRunHandle {
    return {
      progress: (u) => this.#progress(entry, u),
      stop: () => this.#end(entry, () => {}),
    };
  }

  #progress(entry: Entry, u: TrainProgressUpdate): void {
    if (entry.ended) return;
    const run = entry.run;
    entry.trained = true;
    run.phase = u.phase;
    run.elapsed_seconds = Math.round(u.elapsedSeconds);
    if (u.step !== undefined && u.loss !== undefined) {
      run.step = u.step;
      run.loss = u.loss;
      entry.addPoint(u.step, u.loss);
    }
    if (u.percent !== undefined) {
      run.percent = u.percent;
      if (u.step !== undefined && u.percent > 0) {
        run.total_steps = Math.round(u.step * 100 / u.percent);
      }
      run.eta_seconds = u.remainingSeconds ??
        (u.percent > 0 ? Math.round(u.elapsedSeconds * (100 - u.percent) / u.percent) : null);
    }
    // Progress means this run holds the training queue now: it is what the card shows.
    if (this.#shown !== entry) this.#show(entry);
    else this.#tell(entry);
  }

  #finish(entry: Entry, record: ExperimentRecord): void {
    this.#end(entry, (run) => {
      run.phase = "finished";
      run.result = {
        id: record.id,
        status: record.status,
        val_bpb: record.status === "crash" ? null : record.val_bpb,
      };
      const curve = entry.curve();
      if (this.#curves && curve.length > 0) this.#curves.put(record.id, curve);
    });
  }

  #verdict(entry: Entry, v: Verdict): void {
    this.#end(entry, (run) => {
      run.phase = "finished";
      run.verdict = { ...v, detail: v.detail.slice(0, MAX_DETAIL) };
    });
  }

  /** End `entry` once: `apply` sets its result; a stop leaves phase "stopped". */
  #end(entry: Entry, apply: (run: LiveRun) => void): void {
    if (entry.ended) return;
    entry.ended = true;
    entry.run.phase = "stopped";
    entry.run.eta_seconds = null;
    apply(entry.run);
    if (this.#shown === entry) this.#tell(entry);
  }

  #show(entry: Entry): void {
    this.#shown = entry;
    this.#tell(entry);
  }

  #tell(entry: Entry): void {
    const run = structuredClone(entry.run);
    for (const l of this.#listeners) {
      try {
        l(run);
      } catch (e) {
        safetyCatch(e); // a failing view must not stop training
      }
    }
  }
}
