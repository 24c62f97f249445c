/**
 * Honest limits for step-bound CPU runs. On a CPU the embedded train.py trains a fixed number of
 * steps (exact, reproducible results), so how long a run takes says how fast this machine is,
 * not whether the idea works. The GPU rule (time budget plus a margin) killed slow but healthy
 * runs on loaded or reference-BLAS machines and published them as `crash`, marking the idea as
 * broken for everyone. Instead:
 *
 * - the limit derives from this machine's measured pace (seconds per step and fixed overhead of
 *   the last successful run, kept in the data dir), with a generous factor and a floor;
 * - before any measurement, a limit that covers a reference-BLAS baseline;
 * - a run the limit stops is "host too slow": not published (research moves on, verification
 *   gives no verdict), and said plainly.
 * @module
 */
import { atomicWrite } from "../config.ts";

/** A run may take this many times its predicted duration before it is stopped. */
export const PACE_FACTOR = 3;
/** Never stop a CPU run sooner than this (startup, data load and evaluation vary the most). */
export const FLOOR_SECONDS = 600;
/**
 * Limit before this machine's pace is known: a baseline of the CPU default with Debian's
 * reference BLAS takes 5.4 minutes on the 2-core development machine (OpenBLAS: 34 s; 14.3 min
 * before the default was shrunk), so 45 minutes covers it on a loaded or slower machine too.
 */
export const UNMEASURED_SECONDS = 45 * 60;
/** After this share of the steps, an ETA past the limit is reported (early ETAs are noisy). */
export const ETA_WARN_AFTER_PERCENT = 10;

/** What one finished run says about this machine's speed. */
export interface CpuPace {
  /** Seconds per training step. */
  secondsPerStep: number;
  /** Seconds outside the training steps: startup, data, evaluation. */
  overheadSeconds: number;
  /** Steps of that run (the usual step count of this workspace). */
  steps: number;
}

/** The limit for a step-bound run of `steps` steps (default: the measured run's count). */
export function cpuLimitSeconds(pace: CpuPace | undefined, steps?: number): number {
  if (!pace) return UNMEASURED_SECONDS;
  const n = steps ?? pace.steps;
  const predicted = pace.overheadSeconds + n * pace.secondsPerStep;
  return Math.ceil(Math.max(FLOOR_SECONDS, PACE_FACTOR * predicted));
}

/** The pace a successful run shows, or undefined when its figures cannot be trusted. */
export function paceOf(
  run: { trainingSeconds: number; numSteps: number; wallSeconds: number },
): CpuPace | undefined {
  const { trainingSeconds, numSteps, wallSeconds } = run;
  if (!(numSteps > 0 && trainingSeconds > 0 && wallSeconds >= trainingSeconds)) return undefined;
  return {
    secondsPerStep: trainingSeconds / numSteps,
    overheadSeconds: wallSeconds - trainingSeconds,
    steps: numSteps,
  };
}

/**
 * Whether the run, at its current rate, will pass its limit: projected finish (elapsed plus the
 * script's own remaining-time estimate) beyond the limit, once the estimate has settled.
 */
export function overLimit(
  elapsedSeconds: number,
  progress: { percent: number; remainingSeconds?: number } | undefined,
  limitSeconds: number,
): number | undefined {
  if (!progress || progress.remainingSeconds === undefined) return undefined;
  if (progress.percent < ETA_WARN_AFTER_PERCENT) return undefined;
  const projected = elapsedSeconds + progress.remainingSeconds;
  return projected > limitSeconds ? projected : undefined;
}

/** Read the pace file; a missing or unreadable one means "not measured". */
export async function loadPace(path: string): Promise<CpuPace | undefined> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof SyntaxError) return undefined;
    throw e;
  }
  const p = raw as Partial<CpuPace> | null;
  const ok = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v > 0;
  if (!p || !ok(p.secondsPerStep) || !ok(p.steps) || typeof p.overheadSeconds !== "number") {
    return undefined;
  }
  return {
    secondsPerStep: p.secondsPerStep,
    overheadSeconds: Math.max(0, p.overheadSeconds),
    steps: p.steps,
  };
}

/** Remember this machine's pace for the next start. */
export async function savePace(path: string, pace: CpuPace): Promise<void> {
  await atomicWrite(path, JSON.stringify(pace) + "\n");
}
