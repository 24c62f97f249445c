/**
 * The node's training runtime: discovers Python/torch, the sandbox and the device once, prepares the
 * data, then runs jobs one at a time, each in a fresh temporary copy of the workspace.
 * @module
 */
import { join } from "node:path";
import { homedir } from "node:os";
import type { Exec } from "./exec.ts";
import { findPython, type PythonInfo } from "./python.ts";
import {
  checkSandbox,
  DEFAULT_MAX_PROCESSES,
  findBwrap,
  gpuDeviceNodes,
  pickSandboxUid,
  systemLayout,
} from "./sandbox.ts";
import { compileDisabledByDefault, deviceFromTorch, type DeviceInfo } from "./gpu.ts";
import { prepareData, type PreparedData } from "./data.ts";
import { TrainingQueue } from "./queue.ts";
import type { MemoryLimit } from "./memory.ts";
import { createRunWorkspace } from "./workspace.ts";
import { dataCacheProblem, type ResolvedWorkspace } from "./research_workspace.ts";
import {
  type CompileCrash,
  type CompilePolicy,
  compilePolicy,
  readCompileCrash,
  rememberCompileCrash,
} from "./compile_policy.ts";
import { TrainingSetupError } from "./errors.ts";
import { dataPaths } from "../config.ts";
import {
  cpuLimitSeconds,
  type CpuPace,
  loadPace,
  overLimit,
  PACE_FACTOR,
  paceOf,
  savePace,
} from "./cpu_pace.ts";
import type { HomeBind } from "./sandbox.ts";
import {
  type ProgressEvent,
  runTraining,
  type SandboxContext,
  type TrainResult,
  type TrainRunOptions,
} from "./runner.ts";
import { safetyCatch } from "../errors.ts";

/** How to set up the runtime. */
export interface RuntimeOptions {
  /** The node's data dir: never visible to training. */
  dataDir: string;
  /** Interpreter from `--python` or config `python`. */
  python?: string | undefined;
  /** Prepared-data cache (default $SPORE_CACHE_DIR, else `<dataDir>/cache`). */
  cacheDir?: string;
  /** Run without bubblewrap: only for code the user trusts. */
  unsafeNoSandbox?: boolean | undefined;
  /** SPORE_DATASET (default synthetic). */
  dataset?: string | undefined;
  /** Source of prepare.py/batching.py (default bundled workspace). */
  workspaceSourceDir?: string;
  /**
   * A foreign workspace (`--workspace` with its own prepare.py): its files are the run's, its class
   * is the records', its prepare.py is never run, and its home cache is bound read-only.
   */
  foreign?: ResolvedWorkspace | undefined;
  maxProcesses?: number;
  /** Memory limit of every run (default `DEFAULT_MEMORY_LIMIT`: half the RAM, see memory.ts). */
  memoryLimit?: MemoryLimit;
  /**
   * Override the device's compile default (gpu.ts): tests on a CPU host, where compile is always
   * off, use it to exercise the crash memory a GPU host relies on.
   */
  deviceCompileDisabled?: boolean;
  /** Parent for per-run temp workspaces (default system temp dir). */
  runParentDir?: string;
  exec?: Exec;
}

/** One training job: the run's own settings are documented on {@link TrainRunOptions}. */
export interface TrainJob extends
  Partial<
    Pick<
      TrainRunOptions,
      "maxSteps" | "resource" | "timeoutSeconds" | "onProgress" | "onLine" | "signal"
    >
  > {
  /** The train.py to run. */
  code: Uint8Array | string;
  /** For queue displays, e.g. "research" or "verify <id>". */
  label?: string;
  /** Override the time budget (passed to train.py as SPORE_TIME_BUDGET). */
  timeBudgetSeconds?: number | undefined;
}

/** Ready-to-use training runtime. */
export class TrainingRuntime {
  readonly queue = new TrainingQueue();
  #compileCrash: CompileCrash | undefined;
  /** This machine's measured pace; null once looked up and not found. */
  #pace: CpuPace | null | undefined;

  private constructor(
    readonly python: PythonInfo,
    readonly device: DeviceInfo,
    readonly data: PreparedData,
    readonly sandbox: SandboxContext | null,
    private readonly opts: RuntimeOptions,
    compileCrash: CompileCrash | undefined,
  ) {
    this.#compileCrash = compileCrash;
  }

  /**
   * Discover everything and prepare the data. Throws `TrainingSetupError` with an actionable
   * message for a missing Python, torch, bwrap or a sandbox that cannot start.
   */
  static async create(opts: RuntimeOptions): Promise<TrainingRuntime> {
    // A foreign workspace's data is checked first: it costs nothing and needs the user's step.
    const foreign = opts.foreign ? await foreignData(opts.foreign) : undefined;
    const python = await findPython({ explicit: opts.python, exec: opts.exec });
    const sandbox = opts.unsafeNoSandbox ? null : await probeSandbox({
      bwrap: await findBwrap(opts.exec),
      python,
      dataDir: opts.dataDir,
      maxProcesses: opts.maxProcesses,
      exec: opts.exec,
    });
    const data = foreign ?? await prepareData({
      python: python.path,
      cacheDir: opts.cacheDir ?? Deno.env.get("SPORE_CACHE_DIR") ?? join(opts.dataDir, "cache"),
      dataset: opts.dataset,
      sourceDir: opts.workspaceSourceDir,
      exec: opts.exec,
    });
    const crash = await readCompileCrash(opts.dataDir);
    return new TrainingRuntime(python, deviceFromTorch(python.torch), data, sandbox, opts, crash);
  }

  /** Whether runs start with torch.compile disabled, and why (for the banner). */
  get compile(): CompilePolicy {
    return compilePolicy({
      deviceDefault: this.opts.deviceCompileDisabled ?? compileDisabledByDefault(this.python.torch),
      env: Deno.env.get("SPORE_DISABLE_COMPILE"),
      crash: this.#compileCrash,
    });
  }

  /** Whether runs start with torch.compile disabled. */
  get compileDisabled(): boolean {
    return this.compile.disabled;
  }

  /** The data a foreign workspace's script finds under its home. */
  get #homeBinds(): HomeBind[] | undefined {
    const f = this.opts.foreign;
    if (!f?.homeCache || !f.dataCache) return undefined;
    return [{ host: f.dataCache, rel: f.homeCache }];
  }

  /**
   * Step-bound runs: the embedded workspace on a CPU trains a fixed step count, so its limit
   * comes from this machine's pace (cpu_pace.ts), not from the GPU time budget.
   */
  get #stepBound(): boolean {
    return this.device.kind === "cpu" && this.opts.foreign === undefined;
  }

  /** The limit a job gets: its own, the pace-derived one when step-bound, else the runner's. */
  async #limitFor(job: TrainJob): Promise<number | undefined> {
    if (job.timeoutSeconds !== undefined || !this.#stepBound) return job.timeoutSeconds;
    this.#pace ??= await loadPace(dataPaths(this.opts.dataDir).cpuPace) ?? null;
    return cpuLimitSeconds(this.#pace ?? undefined, job.maxSteps);
  }

  /** Learn the pace from a step-bound run; say plainly when the limit stopped one. */
  async #afterRun(result: TrainResult, limit: number | undefined): Promise<TrainResult> {
    if (!this.#stepBound || limit === undefined) return result;
    if (result.ok) {
      const pace = paceOf({ ...result.metrics, wallSeconds: result.wallSeconds });
      if (pace) {
        this.#pace = pace;
        await savePace(dataPaths(this.opts.dataDir).cpuPace, pace);
      }
      return result;
    }
    if (result.kind !== "timeout") return result;
    return {
      ...result,
      hostSlow: true,
      reason: `host too slow: stopped after ${limit}s, ${PACE_FACTOR}x this machine's ` +
        "measured pace (or its first-run limit); the code was not at fault",
    };
  }

  /** Queue a job; it runs after every earlier job, in a fresh workspace that is then removed. */
  train(job: TrainJob): Promise<TrainResult> {
    return this.queue.run(job.label ?? "train", async () => {
      const limit = await this.#limitFor(job);
      const onProgress = limit !== undefined && this.#stepBound && job.onProgress
        ? slowWatch(limit, job.onProgress)
        : job.onProgress;
      const uid = this.sandbox?.asRoot ? pickSandboxUid() : undefined;
      const foreign = this.opts.foreign;
      const homeBinds = this.#homeBinds;
      const ws = await createRunWorkspace({
        trainPy: job.code,
        sourceDir: foreign?.dir ?? this.opts.workspaceSourceDir,
        parentDir: this.opts.runParentDir,
        chownTo: uid,
        batchingOptional: foreign !== undefined,
        homeBinds,
        linkHomeBinds: this.sandbox === null,
      });
      try {
        const result = await runTraining({
          python: this.python,
          workspaceDir: ws.dir,
          dataDir: foreign ? undefined : this.data.cacheDir,
          homeBinds,
          sandbox: this.sandbox,
          sandboxUid: uid,
          timeBudgetSeconds: job.timeBudgetSeconds ?? this.data.timeBudget,
          overrideTimeBudget: job.timeBudgetSeconds !== undefined,
          timeoutSeconds: limit,
          maxSteps: job.maxSteps,
          resource: job.resource,
          disableCompile: this.compileDisabled,
          dataset: this.opts.dataset,
          memoryLimit: this.opts.memoryLimit,
          onProgress,
          onLine: job.onLine,
          signal: job.signal,
        });
        if (result.compileFailure !== undefined && this.#compileCrash === undefined) {
          this.#compileCrash = await rememberCompileCrash(this.opts.dataDir, result.compileFailure);
        }
        return await this.#afterRun(result, limit);
      } finally {
        await ws.dispose();
      }
    });
  }
}

/** Pass progress on, marked `slow` once the run's projected finish is past its limit. */
function slowWatch(
  limit: number,
  onProgress: (e: ProgressEvent) => void,
): (e: ProgressEvent) => void {
  let slow: ProgressEvent["slow"];
  return (e) => {
    const projected = overLimit(e.elapsedSeconds, e.progress, limit);
    if (projected !== undefined) {
      slow = { projectedSeconds: Math.round(projected), limitSeconds: limit };
    }
    onProgress(slow ? { ...e, slow } : e);
  };
}

/**
 * The prepared-data identity of a foreign workspace, from its resolved class; its data must
 * already be where its prepare.py looks (the node never runs a foreign prepare.py).
 */
async function foreignData(ws: ResolvedWorkspace): Promise<PreparedData> {
  const problem = await dataCacheProblem(ws, ws.dataCache);
  if (problem) throw new TrainingSetupError("data_missing", problem);
  return {
    dataset: ws.researchClass.datasetCid,
    datasetCid: ws.researchClass.datasetCid,
    prepareCid: ws.researchClass.prepareCid,
    cacheDir: ws.dataCache ?? "",
    timeBudget: ws.timeBudget,
  };
}

/** What {@link probeSandbox} needs: the bwrap binary found and the Python it will run. */
export interface SandboxProbe {
  bwrap: string;
  python: PythonInfo;
  /** The node's data dir: never visible inside. */
  dataDir: string;
  maxProcesses?: number | undefined;
  exec?: Exec | undefined;
}

/**
 * This machine's sandbox, proven to start: a throwaway sandbox over a temp dir runs
 * `python -c pass` before any real job does.
 * @throws TrainingSetupError when bubblewrap cannot create the sandbox.
 */
export async function probeSandbox(o: SandboxProbe): Promise<SandboxContext> {
  const hiddenPaths = [o.dataDir];
  let homeDir: string | undefined;
  try {
    homeDir = homedir();
  } catch (e) {
    safetyCatch(e);
    // No home directory: nothing more to hide.
  }
  const ctx: SandboxContext = {
    bwrap: o.bwrap,
    homeDir,
    system: await systemLayout(),
    gpuDevices: await gpuDeviceNodes(),
    hiddenPaths,
    maxProcesses: o.maxProcesses ?? DEFAULT_MAX_PROCESSES,
    asRoot: Deno.uid() === 0,
  };
  // The probe needs real directories to bind: a throwaway pair.
  const probeDir = await Deno.makeTempDir({ prefix: "spore-probe-" });
  try {
    await Deno.chmod(probeDir, 0o755);
    await checkSandbox({
      bwrap: ctx.bwrap,
      workspaceDir: probeDir,
      dataDir: probeDir,
      python: o.python.realPath,
      pythonRoots: o.python.roots,
      hiddenPaths,
      homeDir,
      system: ctx.system,
      gpuDevices: ctx.gpuDevices,
      maxProcesses: o.maxProcesses ?? DEFAULT_MAX_PROCESSES,
      asRoot: ctx.asRoot,
    }, o.exec);
  } finally {
    await Deno.remove(probeDir, { recursive: true }).catch(safetyCatch);
  }
  return ctx;
}
