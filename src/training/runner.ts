/**
 * Run one `train.py` (sandboxed unless explicitly unsafe), stream its progress, enforce the hard
 * timeout by killing the whole process tree, and classify the outcome. Retries once with
 * `torch.compile` disabled when the log shows a compile failure.
 * @module
 */
import { classifyRun, type CrashKind, type RunExit } from "./classify.ts";
import {
  DEFAULT_MEMORY_LIMIT,
  describeMemoryLimit,
  launcherMemoryArg,
  type MemoryLimit,
  memoryLimitPython,
} from "./memory.ts";
import {
  lastErrorLine,
  looksLikeCompileFailure,
  parseProgressLine,
  type TrainMetrics,
  type TrainProgress,
} from "./parse.ts";
import type { PythonInfo } from "./python.ts";
import {
  buildSandboxArgs,
  DEFAULT_MAX_PROCESSES,
  type HomeBind,
  type SystemEntry,
} from "./sandbox.ts";
import { safetyCatch } from "../errors.ts";

/** Host facts the sandbox needs, gathered once per node. */
export interface SandboxContext {
  bwrap: string;
  system: SystemEntry[];
  gpuDevices: string[];
  /** Never visible inside (the node's data dir). */
  hiddenPaths: string[];
  /** Never bound as a whole. */
  homeDir?: string | undefined;
  maxProcesses?: number;
  asRoot: boolean;
}

/** Phase of a run, for progress displays. */
export type TrainPhase = "starting" | "training" | "evaluating" | "done";

/** Emitted on every parsed progress line and phase change. */
export interface ProgressEvent {
  phase: TrainPhase;
  elapsedSeconds: number;
  progress?: TrainProgress | undefined;
  /** Set on the second attempt after a compile failure. */
  retry?: boolean | undefined;
  /**
   * A step-bound CPU run whose projected finish is past its limit (set from the moment the
   * estimate says so): the run will be stopped for this machine's slowness.
   */
  slow?: { projectedSeconds: number; limitSeconds: number } | undefined;
}

/** One training run. */
export interface TrainRunOptions {
  python: PythonInfo;
  /** Directory holding train.py, prepare.py, batching.py; the run may write here. */
  workspaceDir: string;
  /** Prepared data (SPORE_CACHE_DIR), read-only to the run; none for a foreign workspace. */
  dataDir?: string | undefined;
  /** Read-only data the script finds under its home (a foreign workspace's cache). */
  homeBinds?: HomeBind[] | undefined;
  /** `null` runs Python directly: only for the user's own trusted code (--unsafe-no-sandbox). */
  sandbox: SandboxContext | null;
  /** For a root node: the unprivileged uid this run drops to (must own the workspace). */
  sandboxUid?: number | undefined;
  /** Script inside the workspace (default train.py). */
  script?: string;
  /** The run's time budget in seconds (sets the default hard timeout). */
  timeBudgetSeconds: number;
  /** Pass SPORE_TIME_BUDGET to train.py (only when the user overrides the budget). */
  overrideTimeBudget?: boolean;
  /** Hard timeout; default budget + max(120 s, budget / 2) for startup, compile and eval. */
  timeoutSeconds?: number | undefined;
  maxSteps?: number | undefined;
  /** SPORE_RESOURCE, percent of the accelerator (1-100). */
  resource?: number | undefined;
  disableCompile?: boolean;
  /** SPORE_DATASET for prepare.py (must match the prepared data). */
  dataset?: string | undefined;
  onProgress?: ((e: ProgressEvent) => void) | undefined;
  /** Every output line (stdout and stderr), e.g. for a verbose log. */
  onLine?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Seconds clock (injectable for tests). */
  clock?: () => number;
  /** Memory limit of the run (default {@link DEFAULT_MEMORY_LIMIT}, see `memory.ts`). */
  memoryLimit?: MemoryLimit | undefined;
  /** Characters of output kept for parsing and reports (the tail). Default 256 KiB. */
  maxLogChars?: number;
}

/** What a run produced. */
export type TrainResult =
  & {
    log: string;
    wallSeconds: number;
    compileRetried: boolean;
    timeoutSeconds: number;
    /** Set when the first attempt crashed in torch.compile: its error line. */
    compileFailure?: string;
  }
  & (
    | { ok: true; metrics: TrainMetrics }
    | {
      ok: false;
      kind: CrashKind;
      reason: string;
      /** A step-bound CPU run stopped by its pace limit: the machine's fault, not the code's. */
      hostSlow?: boolean;
    }
  );

const MAX_LINE = 64 * 1024;

/**
 * Unsandboxed runs live in their own process group (so a timeout can kill the tree), which also
 * shields them from the terminal's Ctrl-C: ask Linux to kill Python when the node dies, then exec.
 */
const DIE_WITH_PARENT = [
  "import os, resource, signal, sys",
  ...memoryLimitPython(1),
  "try:",
  "    import ctypes",
  "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG",
  "except Exception:",
  "    pass  # not Linux: the hard timeout still applies",
  "os.execv(sys.argv[2], sys.argv[2:])",
].join("\n");

/** Names of the signals a training run typically dies of (Linux numbering). */
const SIGNAL_NAMES: Record<number, string> = {
  4: "SIGILL",
  6: "SIGABRT",
  7: "SIGBUS",
  9: "SIGKILL",
  11: "SIGSEGV",
  15: "SIGTERM",
  24: "SIGXCPU",
  25: "SIGXFSZ",
};

function memoryLimitOf(opts: TrainRunOptions): MemoryLimit {
  return opts.memoryLimit ?? DEFAULT_MEMORY_LIMIT;
}

/** The default hard timeout for a budget. */
export function hardTimeoutSeconds(budget: number): number {
  return Math.ceil(budget + Math.max(120, budget / 2));
}

/** Run training, with one retry without `torch.compile` if compile is what failed. */
export async function runTraining(opts: TrainRunOptions): Promise<TrainResult> {
  const first = await runOnce(opts, false);
  if (first.ok || opts.disableCompile || first.kind !== "exit") return first;
  if (!looksLikeCompileFailure(first.log)) return first;
  const second = await runOnce({ ...opts, disableCompile: true }, true);
  return { ...second, compileRetried: true, compileFailure: lastErrorLine(first.log) };
}

function trainEnv(opts: TrainRunOptions): Record<string, string> {
  const env: Record<string, string> = {};
  if (opts.overrideTimeBudget) env.SPORE_TIME_BUDGET = String(opts.timeBudgetSeconds);
  if (opts.maxSteps !== undefined) env.SPORE_MAX_STEPS = String(opts.maxSteps);
  if (opts.resource !== undefined) env.SPORE_RESOURCE = String(opts.resource);
  // The user's SPORE_DISABLE_COMPILE=1 reaches train.py as the Python node passes it on.
  if (opts.disableCompile || Deno.env.get("SPORE_DISABLE_COMPILE") === "1") {
    env.SPORE_DISABLE_COMPILE = "1";
  }
  if (opts.dataset) env.SPORE_DATASET = opts.dataset;
  const cuda = Deno.env.get("CUDA_VISIBLE_DEVICES");
  if (cuda !== undefined) env.CUDA_VISIBLE_DEVICES = cuda;
  return env;
}

function commandFor(
  opts: TrainRunOptions,
): { cmd: string; args: string[]; env?: Record<string, string>; cwd?: string; clearEnv?: boolean } {
  const script = opts.script ?? "train.py";
  const env = trainEnv(opts);
  if (opts.sandbox === null) {
    return {
      cmd: opts.python.path,
      args: [
        "-c",
        DIE_WITH_PARENT,
        launcherMemoryArg(memoryLimitOf(opts)),
        opts.python.realPath,
        script,
      ],
      cwd: opts.workspaceDir,
      // Even trusted code gets no node secrets (LLM API keys live in the environment).
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
        // Home binds are links in the run's workspace (see linkHomeBinds), which is then home.
        HOME: opts.homeBinds?.length
          ? opts.workspaceDir
          : Deno.env.get("HOME") ?? opts.workspaceDir,
        LANG: "C.UTF-8",
        TMPDIR: `${opts.workspaceDir}/.tmp`,
        ...env,
        ...(opts.dataDir !== undefined ? { SPORE_CACHE_DIR: opts.dataDir } : {}),
        PYTHONUNBUFFERED: "1",
      },
    };
  }
  const s = opts.sandbox;
  return {
    cmd: s.bwrap,
    args: buildSandboxArgs({
      bwrap: s.bwrap,
      workspaceDir: opts.workspaceDir,
      dataDir: opts.dataDir,
      homeBinds: opts.homeBinds,
      python: opts.python.realPath,
      pythonRoots: opts.python.roots,
      hiddenPaths: s.hiddenPaths,
      homeDir: s.homeDir,
      env,
      argv: [script],
      system: s.system,
      gpuDevices: s.gpuDevices,
      maxProcesses: s.maxProcesses ?? DEFAULT_MAX_PROCESSES,
      asRoot: s.asRoot,
      runUid: opts.sandboxUid,
      memoryLimit: memoryLimitOf(opts),
    }),
  };
}

/** Keeps the last `max` characters of output. */
class TailLog {
  #parts: string[] = [];
  #size = 0;
  constructor(readonly max: number) {}
  push(line: string): void {
    this.#parts.push(line);
    this.#size += line.length + 1;
    while (this.#size > this.max && this.#parts.length > 1) {
      this.#size -= this.#parts.shift()!.length + 1;
    }
  }
  text(): string {
    const s = this.#parts.join("\n");
    return s.length > this.max ? s.slice(s.length - this.max) : s;
  }
}

async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (l: string) => void,
): Promise<void> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      // `\r` counts as a line end too: progress bars redraw with it.
      const parts = buf.split(/\r\n|\n|\r/);
      buf = parts.pop() ?? "";
      for (const p of parts) onLine(p);
      if (buf.length > MAX_LINE) {
        onLine(buf.slice(0, MAX_LINE));
        buf = "";
      }
    }
  } catch (e) {
    safetyCatch(e);
    // Stream cancelled after the process was killed; what we have is what there is.
  } finally {
    if (buf) onLine(buf);
    reader.releaseLock();
  }
}

async function runOnce(opts: TrainRunOptions, retry: boolean): Promise<TrainResult> {
  const clock = opts.clock ?? (() => performance.now() / 1000);
  const started = clock();
  const timeoutSeconds = opts.timeoutSeconds ?? hardTimeoutSeconds(opts.timeBudgetSeconds);
  const log = new TailLog(opts.maxLogChars ?? 256 * 1024);
  const elapsed = () => Math.max(0, clock() - started);
  const emit = (phase: TrainPhase, progress?: TrainProgress) =>
    opts.onProgress?.({ phase, elapsedSeconds: elapsed(), progress, retry: retry || undefined });

  const { cmd, args, env, cwd, clearEnv } = commandFor(opts);
  const unsandboxed = opts.sandbox === null;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args,
      ...(env === undefined ? {} : { env }),
      ...(cwd === undefined ? {} : { cwd }),
      ...(clearEnv === undefined ? {} : { clearEnv }),
      // Unsandboxed runs get their own process group so the whole tree can be killed.
      detached: unsandboxed,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    return {
      ok: false,
      kind: "exit",
      reason: `could not start ${cmd}: ${(e as Error).message}`,
      log: "",
      wallSeconds: 0,
      compileRetried: false,
      timeoutSeconds,
    };
  }
  emit("starting");

  const killTree = () => {
    try {
      // bwrap's --die-with-parent takes the sandbox (a PID namespace) down with it.
      if (unsandboxed) Deno.kill(-child.pid, "SIGKILL");
      else child.kill("SIGKILL");
    } catch (e) {
      // Already gone (Deno reports a child that already exited with a TypeError).
      if (!(e instanceof TypeError)) safetyCatch(e);
    }
  };
  let timedOut = false;
  let cancelled = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killTree();
  }, timeoutSeconds * 1000);
  const onAbort = () => {
    cancelled = true;
    killTree();
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();

  let phase: TrainPhase = "starting";
  const onLine = (line: string) => {
    log.push(line);
    opts.onLine?.(line);
    const p = parseProgressLine(line);
    if (p) {
      phase = "training";
      emit(phase, p);
    } else if (phase === "training" && line.startsWith("evaluating")) {
      phase = "evaluating";
      emit(phase);
    }
  };
  const pumps = Promise.all([pumpLines(child.stdout, onLine), pumpLines(child.stderr, onLine)]);
  const status = await child.status;
  clearTimeout(timer);
  opts.signal?.removeEventListener("abort", onAbort);
  // Unsandboxed leftovers (background children) would keep the pipes open: end them too.
  if (unsandboxed) killTree();
  await Promise.race([pumps, new Promise((r) => setTimeout(r, 5000))]);

  const exit: RunExit = {
    code: status.signal ? null : status.code,
    signal: timedOut || cancelled ? null : status.signal,
    timedOut,
    cancelled,
    timeoutSeconds,
    memoryLimit: describeMemoryLimit(memoryLimitOf(opts)),
  };
  // bwrap reports a signalled child as exit code 128 + signal number.
  if (!unsandboxed && exit.code !== null && exit.code > 128 && exit.code < 160) {
    exit.signal = SIGNAL_NAMES[exit.code - 128] ?? `signal ${exit.code - 128}`;
    exit.code = null;
  }
  const verdict = classifyRun(exit, log.text());
  emit("done");
  const base = { log: log.text(), wallSeconds: elapsed(), compileRetried: false, timeoutSeconds };
  return verdict.ok
    ? { ...base, ok: true, metrics: verdict.metrics }
    : { ...base, ok: false, kind: verdict.kind, reason: verdict.reason };
}
