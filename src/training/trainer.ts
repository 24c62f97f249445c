/**
 * The {@link Trainer} that research and verification use, over a {@link TrainingRuntime}: every
 * run goes through the runtime's single FIFO lock, sandboxed, in a fresh workspace copy.
 * @module
 */
import type {
  TrainEnvironment,
  Trainer,
  TrainOutcome,
  TrainProgressUpdate,
} from "../node_types.ts";
import type { ProgressEvent, TrainResult } from "./runner.ts";
import type { TrainingRuntime } from "./runtime.ts";
import { bundledWorkspaceDir, readWorkspaceFile, WORKSPACE_FILES } from "./workspace.ts";

/** A runner progress event as live views take it. */
export function progressUpdate(e: ProgressEvent): TrainProgressUpdate {
  return {
    phase: e.phase,
    elapsedSeconds: e.elapsedSeconds,
    step: e.progress?.step,
    percent: e.progress?.percent,
    loss: e.progress?.loss,
    remainingSeconds: e.progress?.remainingSeconds,
  };
}

/** A runner result as research and verification take it. */
export function trainOutcome(r: TrainResult): TrainOutcome {
  if (!r.ok) return { ok: false, crashReason: r.reason, hostSlow: r.hostSlow };
  return {
    ok: true,
    val_bpb: r.metrics.valBpb,
    peak_vram_mb: r.metrics.peakVramMb,
    num_steps: r.metrics.numSteps,
    num_params: r.metrics.numParams,
    training_seconds: r.metrics.trainingSeconds,
  };
}

/** Options shared by every run of a node. */
export interface RuntimeTrainerOptions {
  /** SPORE_RESOURCE share of the device, 1-100. */
  resource?: number | undefined;
  /** The user's workspace (its train.py is the baseline); default: the bundled one. */
  workspaceDir?: string;
  /** Progress of the running job (for the terminal progress line). */
  onProgress?: ((label: string, e: ProgressEvent) => void) | undefined;
}

/** A Trainer backed by the real sandboxed runtime. */
export class RuntimeTrainer implements Trainer {
  readonly #rt: TrainingRuntime;
  readonly #o: RuntimeTrainerOptions;

  constructor(runtime: TrainingRuntime, opts: RuntimeTrainerOptions = {}) {
    this.#rt = runtime;
    this.#o = opts;
  }

  /** The runtime's time budget in seconds (goes into records). */
  get timeBudget(): number {
    return this.#rt.data.timeBudget;
  }

  environment(): Promise<TrainEnvironment> {
    const d = this.#rt.device;
    return Promise.resolve({
      gpuModel: d.gpuModel,
      gpuClass: d.gpuClass,
      cudaVersion: d.cudaVersion,
      torchVersion: d.torchVersion,
    });
  }

  workspaceIds(): Promise<{ datasetCid: string; prepareCid: string }> {
    return Promise.resolve({
      datasetCid: this.#rt.data.datasetCid,
      prepareCid: this.#rt.data.prepareCid,
    });
  }

  async baselineCode(): Promise<string> {
    return new TextDecoder().decode(await readWorkspaceFile("train.py", this.#o.workspaceDir));
  }

  async run(
    code: string,
    opts: {
      label?: string;
      signal?: AbortSignal | undefined;
      onProgress?: ((update: TrainProgressUpdate) => void) | undefined;
    } = {},
  ): Promise<TrainOutcome> {
    const label = opts.label ?? "train";
    const terminal = this.#o.onProgress;
    const live = opts.onProgress;
    const r = await this.#rt.train({
      code,
      label,
      signal: opts.signal,
      resource: this.#o.resource,
      onProgress: terminal || live
        ? (e) => {
          terminal?.(label, e);
          live?.(progressUpdate(e));
        }
        : undefined,
    });
    return trainOutcome(r);
  }
}

/**
 * The Trainer of a node that does not train (sync-only): its class matches no record, so it is
 * never asked to rerun anything, and a run reports why.
 */
export class NoTrainer implements Trainer {
  readonly #why: string;

  constructor(why: string) {
    this.#why = why;
  }

  environment(): Promise<TrainEnvironment> {
    return Promise.resolve({
      gpuModel: "none",
      gpuClass: "NO_TRAINING",
      cudaVersion: "",
      torchVersion: "",
    });
  }

  workspaceIds(): Promise<{ datasetCid: string; prepareCid: string }> {
    return Promise.resolve({ datasetCid: "", prepareCid: "" });
  }

  async baselineCode(): Promise<string> {
    return new TextDecoder().decode(await readWorkspaceFile("train.py"));
  }

  run(): Promise<TrainOutcome> {
    return Promise.resolve({ ok: false, crashReason: this.#why });
  }
}

/**
 * Copy the bundled workspace files into `dir` where they are missing (never overwriting the
 * user's edits); returns the names copied.
 */
export async function ensureUserWorkspace(dir: string): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const copied: string[] = [];
  for (const name of WORKSPACE_FILES) {
    try {
      await Deno.stat(`${dir}/${name}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      await Deno.writeFile(`${dir}/${name}`, await readWorkspaceFile(name, bundledWorkspaceDir()));
      copied.push(name);
    }
  }
  return copied;
}
