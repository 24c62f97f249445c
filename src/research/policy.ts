/**
 * Proposal policy: what a proposed train.py must be before it is run. Pure checks, in two
 * groups the LLM gets one repair round each for:
 * - invalid code: not a complete file (diff, placeholder, truncated), binary junk, missing the
 *   result block the trainer parses, or (via the injected checker) not parsable Python;
 * - local policy: no process/network/FFI/signal use, no new `torch.compile` call sites, and
 *   model sizes within the envelope of constrained hardware.
 * The policy is a first filter with clear reasons for the LLM; the sandbox is the real guard.
 * @module
 */
import { readHyperparams } from "./hyperparams.ts";
import { stripCommentsAndStrings } from "./python_source.ts";

/** Largest train.py accepted, in characters. */
export const MAX_CODE_CHARS = 200_000;

/** Keys of the final result block, as train.py prints them after `---`. */
export const RESULT_KEYS = [
  "val_bpb",
  "training_seconds",
  "peak_vram_mb",
  "num_steps",
  "num_params_M",
  "num_parameters",
] as const;

/** Parses Python without running it. */
export type SyntaxChecker = (code: string) => Promise<{ ok: true } | { ok: false; error: string }>;

/** Outcome of reviewing a proposed file. */
export type Review =
  | { ok: true }
  | { ok: false; kind: "invalid" | "policy"; reasons: string[] };

/** Size limits for one hardware class; values are the model actually built on it. */
export interface Envelope {
  label: string;
  /** Which constants size the model on this hardware (train.py keeps a CPU_ set). */
  prefix: "CPU_" | "";
  depth: [number, number];
  width: [number, number];
  headDim: [number, number];
  /** Tokens per optimizer step. */
  batchTokens: [number, number];
  /** Step count bound (CPU runs are step-bound). */
  steps?: [number, number];
}

/** Classes with enough memory that no size envelope applies. */
const LARGE_CLASSES = /^(NVIDIA_)?(H100|H200|A100|B100|B200|GH200|L40S?|A6000|RTX_6000|MI\d+)/;

/** The envelope for a normalized GPU class; undefined for large accelerators. */
export function envelopeFor(gpuClass: string): Envelope | undefined {
  if (gpuClass === "CPU") {
    return {
      label: "CPU",
      prefix: "CPU_",
      depth: [1, 8],
      width: [32, 512],
      headDim: [8, 128],
      batchTokens: [256, 64 * 256],
      steps: [1, 600],
    };
  }
  if (LARGE_CLASSES.test(gpuClass)) return undefined;
  return {
    label: gpuClass,
    prefix: "",
    depth: [1, 16],
    width: [64, 1024],
    headDim: [16, 256],
    batchTokens: [256, 256 * 256],
  };
}

// deno-lint-ignore no-control-regex -- binary junk is what this detects
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/;
const PLACEHOLDER =
  /#\s*\.\.\.|#[^\n]*\b(rest of (the )?(file|code)|unchanged|same as (before|above|original)|remains? the same|existing code)\b/i;

/** Problems that make `code` not a complete, runnable train.py (empty when none). */
export function structuralProblems(code: string, parentCode: string): string[] {
  if (code.trim() === "") return ["the code block is empty"];
  if (code.length > MAX_CODE_CHARS) {
    return [`the file has ${code.length} characters; the limit is ${MAX_CODE_CHARS}`];
  }
  if (CONTROL_CHARS.test(code)) {
    return ["the file contains binary or control characters; send plain Python text"];
  }
  const problems: string[] = [];
  const lines = code.split("\n");
  const nonEmpty = lines.filter((l) => l.trim() !== "");
  const diffLines = nonEmpty.filter((l) => /^[+-](?![+=-]|$)/.test(l) || /^@@ /.test(l));
  if (
    /^(---|\+\+\+) \S/m.test(code) && /^@@ -\d/m.test(code) ||
    diffLines.length >= 5 && diffLines.length >= 0.2 * nonEmpty.length
  ) {
    problems.push("this looks like a diff; send the complete new train.py, not a patch");
  }
  const placeholder = PLACEHOLDER.exec(code);
  if (placeholder) {
    problems.push(
      `the file elides code ("${placeholder[0].slice(0, 60)}"); write out every line in full`,
    );
  }
  const parentLines = parentCode.split("\n").filter((l) => l.trim() !== "").length;
  if (parentLines > 40 && nonEmpty.length < 0.5 * parentLines) {
    problems.push(
      `the file has ${nonEmpty.length} non-empty lines, the parent ${parentLines}: ` +
        "send the complete file, not an excerpt",
    );
  }
  if (/__name__\s*==\s*["']__main__["']/.test(parentCode) && !/__name__\s*==/.test(code)) {
    problems.push('the file lost its `if __name__ == "__main__":` entry point');
  }
  const prints = (src: string, key: string) => new RegExp(`print\\([^\\n]*\\b${key}:`).test(src);
  const required = RESULT_KEYS.filter((k) => k === "val_bpb" || prints(parentCode, k));
  const missing = required.filter((k) => !prints(code, k));
  if (!/print\(\s*["']---["']\s*\)/.test(code) || missing.length > 0) {
    problems.push(
      `the result block is incomplete: train.py must end by printing "---" and then ${
        required.map((k) => `"${k}: ..."`).join(", ")
      } lines as the parent does${missing.length ? ` (missing ${missing.join(", ")})` : ""}`,
    );
  }
  return problems;
}

const FORBIDDEN_MODULES = [
  "subprocess",
  "socket",
  "socketserver",
  "ctypes",
  "cffi",
  "multiprocessing",
  "requests",
  "urllib",
  "urllib3",
  "http",
  "httpx",
  "aiohttp",
  "signal",
  "pty",
  "importlib",
];
const FORBIDDEN_OS = [
  "kill",
  "killpg",
  "system",
  "popen",
  "fork",
  "forkpty",
  "exec\\w*",
  "spawn\\w*",
  "posix_spawn\\w*",
];

/** The first word of `s` (empty for blank text). */
function firstWord(s: string): string {
  return s.trim().split(/\s+/, 1)[0] ?? "";
}

/** Uses of processes, network, FFI or signals in `code` (comments and strings ignored). */
export function forbiddenUses(code: string): string[] {
  const src = stripCommentsAndStrings(code);
  const found = new Set<string>();
  const modules = FORBIDDEN_MODULES.join("|");
  for (
    const m of src.matchAll(/^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([^\n;]+))/gm)
  ) {
    const [, from, imported = ""] = m; // one of the two alternatives matched
    const names = from ? [from] : imported.split(",").map(firstWord);
    for (const name of names) {
      const root = name.split(".");
      const hit = root.find((part) => FORBIDDEN_MODULES.includes(part));
      if (hit) found.add(`imports ${hit}`);
    }
  }
  // `x.signal.y` is someone else's attribute; multiprocessing is flagged wherever it hangs.
  for (const m of src.matchAll(new RegExp(`(?<![\\w.])(${modules})\\s*\\.\\s*\\w`, "g"))) {
    found.add(`uses ${m[1]}`);
  }
  if (/\.\s*multiprocessing\b/.test(src)) found.add("uses multiprocessing");
  for (const m of src.matchAll(new RegExp(`\\bos\\s*\\.\\s*(${FORBIDDEN_OS.join("|")})\\b`, "g"))) {
    found.add(`calls os.${m[1]}`);
  }
  for (const m of src.matchAll(/from\s+os\s+import\s+([^\n;]+)/g)) {
    for (const name of (m[1] ?? "").split(",").map(firstWord)) {
      if (new RegExp(`^(${FORBIDDEN_OS.join("|")})$`).test(name)) found.add(`imports os.${name}`);
    }
  }
  for (const m of src.matchAll(/(?<![\w.])(__import__|eval|exec|compile)\s*\(/g)) {
    found.add(`calls ${m[1]}()`);
  }
  return [...found].map((what) =>
    `${what}: processes, network, FFI, signals and dynamic code are not allowed in train.py`
  );
}

/** Number of `torch.compile` references (calls and decorators) outside comments and strings. */
export function compileSites(code: string): number {
  return stripCommentsAndStrings(code).match(/\btorch\s*\.\s*compile\b/g)?.length ?? 0;
}

function inRange(v: number, [lo, hi]: [number, number]): boolean {
  return v >= lo && v <= hi;
}

/** One envelope finding: which constant, and how far outside its range (0: a broken split). */
interface EnvelopeFinding {
  key: string;
  message: string;
  /** Distance outside the allowed range, for comparing a child with its parent. */
  excess: number;
}

/** The size constants an envelope reads, without prefix. */
const SIZE_NAMES = ["DEPTH", "N_EMBD", "N_HEAD", "TOTAL_BATCH_SIZE", "STEPS"];

function envelopeFindings(code: string, gpuClass: string): EnvelopeFinding[] {
  const env = envelopeFor(gpuClass);
  const params = readHyperparams(code);
  // Our train.py keeps a CPU_ set for CPU runs; any other file is sized by its plain names.
  let prefix = env?.prefix ?? (gpuClass === "CPU" ? "CPU_" : "");
  if (prefix !== "" && !SIZE_NAMES.some((n) => params.has(prefix + n))) prefix = "";
  const value = (name: string) => params.get(prefix + name)?.value;
  const out: EnvelopeFinding[] = [];
  const depth = value("DEPTH");
  const width = value("N_EMBD");
  const heads = value("N_HEAD");
  const batch = value("TOTAL_BATCH_SIZE");
  const steps = value("STEPS");
  // Integrity on every class: the attention split and the rotary halves need these.
  if (width !== undefined && heads !== undefined) {
    if (!Number.isInteger(heads) || heads < 1 || width % heads !== 0) {
      out.push({
        key: "split",
        message: `${prefix}N_EMBD (${width}) must be a multiple of ${prefix}N_HEAD (${heads})`,
        excess: 1,
      });
    } else if ((width / heads) % 2 !== 0) {
      out.push({
        key: "split",
        message: `head dim ${prefix}N_EMBD/${prefix}N_HEAD = ${width / heads} must be even`,
        excess: 1,
      });
    }
  }
  if (!env) return out;
  const check = (name: string, v: number | undefined, range: [number, number]) => {
    if (v !== undefined && !inRange(v, range)) {
      out.push({
        key: name,
        message: `${name} = ${v} is outside ${range[0]}..${range[1]} allowed on ${env.label}`,
        excess: v < range[0] ? range[0] / Math.max(v, 1e-9) : v / range[1],
      });
    }
  };
  check(`${prefix}DEPTH`, depth, env.depth);
  check(`${prefix}N_EMBD`, width, env.width);
  if (width !== undefined && heads !== undefined && heads > 0 && out.length === 0) {
    check(`head dim (${prefix}N_EMBD/${prefix}N_HEAD)`, width / heads, env.headDim);
  }
  check(`${prefix}TOTAL_BATCH_SIZE (tokens per step)`, batch, env.batchTokens);
  if (env.steps) check(`${prefix}STEPS`, steps, env.steps);
  return out;
}

/**
 * Size-envelope violations of `code` on `gpuClass` (empty when within, or no envelope). The
 * envelope reads the sizes by name (`DEPTH`, `N_EMBD`, `N_HEAD`, `TOTAL_BATCH_SIZE`, `STEPS`,
 * `CPU_`-prefixed on CPU when the file has such a set); a file without them is not held to it.
 */
export function envelopeViolations(code: string, gpuClass: string): string[] {
  return envelopeFindings(code, gpuClass).map((f) => f.message);
}

/**
 * Envelope violations a child adds to its parent: a constant the parent already had outside the
 * envelope (another workspace's defaults may be, e.g. autoresearch's 2**19-token batch on a small
 * card) may stay there or move back towards it, not further out.
 */
function newEnvelopeViolations(code: string, parentCode: string, gpuClass: string): string[] {
  const before = new Map(envelopeFindings(parentCode, gpuClass).map((f) => [f.key, f.excess]));
  return envelopeFindings(code, gpuClass)
    .filter((f) => !(f.excess <= (before.get(f.key) ?? 0)))
    .map((f) => f.message);
}

/** Every local-policy violation of `code` against its parent, on `gpuClass`. */
export function policyViolations(code: string, parentCode: string, gpuClass: string): string[] {
  const out = forbiddenUses(code);
  const added = compileSites(code) - compileSites(parentCode);
  if (added > 0) {
    out.push(
      `adds ${added} torch.compile call site(s); keep the parent's compile setup unchanged`,
    );
  }
  return [...out, ...newEnvelopeViolations(code, parentCode, gpuClass)];
}

/** Review a proposed file: structure, then syntax (parse only), then local policy. */
export async function reviewCode(
  code: string,
  parentCode: string,
  gpuClass: string,
  syntax: SyntaxChecker,
): Promise<Review> {
  const problems = structuralProblems(code, parentCode);
  if (problems.length > 0) return { ok: false, kind: "invalid", reasons: problems };
  const parsed = await syntax(code);
  if (!parsed.ok) {
    return { ok: false, kind: "invalid", reasons: [`Python syntax error: ${parsed.error}`] };
  }
  const violations = policyViolations(code, parentCode, gpuClass);
  if (violations.length > 0) return { ok: false, kind: "policy", reasons: violations };
  return { ok: true };
}
