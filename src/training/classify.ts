/**
 * Decide whether a finished run succeeded, and if not, why, in one sentence a user can act on.
 * A run counts only when the process exited 0 *and* printed a valid result block: a `val_bpb:`
 * printed by a process that then crashed or was killed is not a result.
 * @module
 */
import { lastErrorLine, parseResultBlock, type TrainMetrics } from "./parse.ts";

/** Why a run did not produce a result. */
export type CrashKind = "timeout" | "signal" | "exit" | "no_result" | "cancelled";

/** How the process ended. */
export interface RunExit {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  /** The hard limit that applied, for the message. */
  timeoutSeconds: number;
  /** The run's memory limit in words (`memory.ts`), for the message. */
  memoryLimit?: string;
}

/** Result of classifying a run. */
export type RunVerdict =
  | { ok: true; metrics: TrainMetrics }
  | { ok: false; kind: CrashKind; reason: string };

/** Known failure signatures inside the sandbox, mapped to a short explanation. */
const HINTS: Array<[RegExp, string]> = [
  [
    /Resource temporarily unavailable|BlockingIOError|can't start new thread/,
    "hit the sandbox process limit",
  ],
  [/Read-only file system/, "only the workspace is writable"],
  [
    /Network is unreachable|Connection refused|Name or service not known|Temporary failure in name resolution/,
    "the sandbox has no network",
  ],
];

/**
 * What a run over its memory limit prints: Python's MemoryError, or a failed allocation in
 * native code (PyTorch's CPU allocator, the C++ runtime, CUDA).
 */
const OUT_OF_MEMORY =
  /MemoryError|out of memory|can't allocate memory|Cannot allocate memory|std::bad_alloc/i;

const SIGNAL_HINTS: Record<string, string> = {
  SIGKILL: " (possibly out of memory)",
  SIGXFSZ: " (wrote a file over the sandbox's size limit)",
  SIGSEGV: " (crashed in native code)",
};

function hintFor(log: string): string {
  for (const [re, hint] of HINTS) if (re.test(log)) return ` (${hint})`;
  return "";
}

/** Classify a finished run from its exit and its (tail of) output. */
export function classifyRun(exit: RunExit, log: string): RunVerdict {
  if (exit.cancelled) return { ok: false, kind: "cancelled", reason: "run cancelled" };
  if (exit.timedOut) {
    return {
      ok: false,
      kind: "timeout",
      reason: `timed out: killed after ${exit.timeoutSeconds}s (time budget plus margin)`,
    };
  }
  if (exit.signal) {
    const why = SIGNAL_HINTS[exit.signal] ?? "";
    return { ok: false, kind: "signal", reason: `train.py was killed by ${exit.signal}${why}` };
  }
  if (exit.code !== 0 && OUT_OF_MEMORY.test(log)) {
    const err = lastErrorLine(log);
    return {
      ok: false,
      kind: "exit",
      reason: `out of memory: train.py went over its memory limit` +
        `${exit.memoryLimit ? ` (${exit.memoryLimit})` : ""}${err ? `: ${err}` : ""}`,
    };
  }
  if (exit.code !== 0) {
    const err = lastErrorLine(log);
    const detail = err ? `: ${err}` : "";
    return {
      ok: false,
      kind: "exit",
      reason: `train.py exited with code ${exit.code}${detail}${hintFor(log)}`,
    };
  }
  const metrics = parseResultBlock(log);
  if (!metrics) {
    return {
      ok: false,
      kind: "no_result",
      reason: "train.py exited normally but printed no valid result block (--- then val_bpb:)",
    };
  }
  return { ok: true, metrics };
}
