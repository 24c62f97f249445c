/**
 * Parse what `train.py` prints: progress lines and the final result block. Pure functions; the
 * text is untrusted (the LLM or a peer wrote the code that printed it), so every number is checked.
 * @module
 */

/** One progress line: `step N (P%) | loss: L | ... | tok/sec: T | epoch: E | remaining: Rs`. */
export interface TrainProgress {
  step: number;
  /** 0..100 */
  percent: number;
  loss: number;
  tokPerSec?: number;
  epoch?: number;
  remainingSeconds?: number;
}

/**
 * The `---` block at the end of a run: ours, or the Python network's autoresearch format
 * (PROTOCOL.md section 11), which prints `num_params_M` instead of `num_parameters` and may
 * leave out `num_steps`.
 */
export interface TrainMetrics {
  valBpb: number;
  trainingSeconds: number;
  peakVramMb: number;
  numSteps: number;
  numParams: number;
  numParamsM?: number;
  totalSeconds?: number;
  mfuPercent?: number;
  totalTokensM?: number;
  depth?: number;
}

const STEP_HEAD = /^step\s+(\d{1,12})\s+\(\s*(\d+(?:\.\d+)?)%\)$/;

function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const clean = s.trim().replace(/,/g, "").replace(/s$/, "");
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(clean)) return undefined;
  const n = Number(clean);
  return Number.isFinite(n) ? n : undefined;
}

/** Parse one progress line, or `null` when the line is not one. */
export function parseProgressLine(line: string): TrainProgress | null {
  if (line.length > 1000) return null;
  const parts = line.trim().split("|").map((p) => p.trim());
  const head = STEP_HEAD.exec(parts[0] ?? "");
  if (!head) return null;
  const fields = new Map<string, string>();
  for (const part of parts.slice(1)) {
    const i = part.indexOf(":");
    if (i > 0) fields.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const loss = num(fields.get("loss"));
  const step = Number(head[1]);
  const percent = Number(head[2]);
  if (loss === undefined || !Number.isSafeInteger(step) || percent > 100) return null;
  const out: TrainProgress = { step, percent, loss };
  const tok = num(fields.get("tok/sec"));
  if (tok !== undefined) out.tokPerSec = tok;
  const epoch = num(fields.get("epoch"));
  if (epoch !== undefined) out.epoch = epoch;
  const rem = num(fields.get("remaining"));
  if (rem !== undefined) out.remainingSeconds = rem;
  return out;
}

/** Result-block keys and the metric each fills (a Map: a key such as `constructor` is no key). */
const BLOCK_KEYS: ReadonlyMap<string, keyof TrainMetrics> = new Map([
  ["val_bpb", "valBpb"],
  ["training_seconds", "trainingSeconds"],
  ["peak_vram_mb", "peakVramMb"],
  ["num_steps", "numSteps"],
  ["num_parameters", "numParams"],
  ["num_params_M", "numParamsM"],
  ["total_seconds", "totalSeconds"],
  ["mfu_percent", "mfuPercent"],
  ["total_tokens_M", "totalTokensM"],
  ["depth", "depth"],
]);

/** Largest parameter count taken from `num_params_M` (a trillion: no real run comes near). */
const MAX_PARAMS_M = 1e6;

/** The step of the last progress line before line `end` (progress may be `\r`-joined). */
function lastProgressStep(lines: string[], end: number): number | undefined {
  for (const line of lines.slice(0, end).reverse()) {
    for (const part of line.split("\r").reverse()) {
      const p = parseProgressLine(part);
      if (p) return p.step;
    }
  }
  return undefined;
}

/**
 * Parse the last `---` result block of a log. Returns `null` unless `val_bpb` is a finite positive
 * number and the counts are non-negative integers; missing optional fields default to 0, except
 * that `num_params` comes from `num_params_M` (x 1e6, rounded) when there is no `num_parameters`
 * line, and `num_steps` from the last `step N` progress line when there is no `num_steps` line.
 */
export function parseResultBlock(log: string): TrainMetrics | null {
  const lines = log.split(/\r?\n/);
  const start = lines.findLastIndex((line) => line.trim() === "---");
  if (start < 0) return null;
  const got: Partial<Record<keyof TrainMetrics, number>> = {};
  for (const line of lines.slice(start + 1)) {
    const m = /^([A-Za-z_]+):\s*(\S+)\s*$/.exec(line.trim());
    if (!m) continue;
    const key = BLOCK_KEYS.get(m[1]!); // group 1 is not optional
    const value = num(m[2]);
    if (key && value !== undefined) got[key] = value;
  }
  const valBpb = got.valBpb;
  if (valBpb === undefined || !(valBpb > 0)) return null;
  const numSteps = got.numSteps ?? lastProgressStep(lines, start) ?? 0;
  let numParams = got.numParams;
  if (numParams === undefined && got.numParamsM !== undefined) {
    const m = got.numParamsM;
    if (!(m >= 0 && m <= MAX_PARAMS_M)) return null;
    numParams = Math.round(m * 1e6);
  }
  numParams ??= 0;
  if (!Number.isSafeInteger(numSteps) || numSteps < 0) return null;
  if (!Number.isSafeInteger(numParams) || numParams < 0) return null;
  const out: TrainMetrics = {
    valBpb,
    trainingSeconds: Math.max(0, got.trainingSeconds ?? 0),
    peakVramMb: Math.max(0, got.peakVramMb ?? 0),
    numSteps,
    numParams,
  };
  for (const k of ["numParamsM", "totalSeconds", "mfuPercent", "totalTokensM", "depth"] as const) {
    if (got[k] !== undefined) out[k] = got[k];
  }
  return out;
}

/** Signs in a log that `torch.compile` (not the model code) failed, so a retry without it helps. */
const COMPILE_FAILURE =
  /torch\._dynamo|torch\._inductor|BackendCompilerFailed|InductorError|TorchRuntimeError|triton\.compiler|CompilationError/;

/** True when the log shows a `torch.compile` failure. */
export function looksLikeCompileFailure(log: string): boolean {
  return COMPILE_FAILURE.test(log);
}

/**
 * The most telling error line of a failed Python run: the last exception line after a
 * traceback, else the last non-empty line. Truncated to keep reports readable.
 */
export function lastErrorLine(log: string, max = 300): string {
  const lines = log.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  const error = lines.findLast((l) => /^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b/.test(l));
  return truncate(error ?? lines.at(-1) ?? "", max);
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
