/**
 * The built-in proposer used without an LLM (agent `spore-mutator`): it changes one or two
 * hyperparameter constants of the parent's train.py to nearby values, within the size envelope
 * of the hardware, never repeating a sibling's code.
 * @module
 */
import { sha256Hex } from "../protocol/hash.ts";
import type { ResearchContext } from "./coordinator.ts";
import { readHyperparams, replaceHyperparam } from "./hyperparams.ts";
import { policyViolations } from "./policy.ts";
import { stripCommentsAndStrings } from "./python_source.ts";
import type { Proposal, Proposer, ProposeResult } from "./proposal.ts";

/** `agent_model` of mutator records. */
export const MUTATOR_AGENT = "spore-mutator";

/** How one constant may move. */
interface ParamSpec {
  name: string;
  /** A new value near `v`, or undefined when none fits. */
  next(v: number, random: () => number): number | undefined;
  /** Expression to write (default: the number). */
  format?(v: number, oldExpr: string): string;
  /** Why lowering / raising it might help. */
  why: [string, string];
}

/** A random element of `xs` (non-empty; `random()` in [0, 1) keeps the index in range). */
const pick = <T>(xs: readonly T[], random: () => number): T => {
  const x = xs[Math.floor(random() * xs.length)];
  if (x === undefined) throw new RangeError(`pick: no element (${xs.length} to pick from)`);
  return x;
};

const step = (lo: number, hi: number, deltas: number[]) => (v: number, random: () => number) => {
  const n = v + pick(deltas, random);
  return n >= lo && n <= hi ? n : undefined;
};

const grid = (values: number[]) => (v: number, random: () => number) => {
  const i = values.findIndex((x) => x >= v);
  const at = i < 0 ? values.length : i;
  const cand = [values[at - 1], values[values[at] === v ? at + 1 : at]].filter((x) =>
    x !== undefined && x !== v
  );
  return cand.length ? pick(cand, random) : undefined;
};

const scale = (lo: number, hi: number) => (v: number, random: () => number) => {
  const n = Number((v * pick([0.5, 0.7, 1.4, 2], random)).toPrecision(3));
  return n >= lo && n <= hi && n !== v ? n : undefined;
};

/** Floats keep a decimal point or exponent so Python still reads a float. */
function formatFloat(v: number): string {
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** Token counts stay in `k * MAX_SEQ_LEN` form when the file wrote them so. */
function formatTokens(v: number, oldExpr: string): string {
  return /MAX_SEQ_LEN/.test(oldExpr) && v % 256 === 0
    ? `${v / 256} * MAX_SEQ_LEN`
    : formatInt(v, oldExpr);
}

const tokens = (lo: number, hi: number) => (v: number, random: () => number) => {
  const n = v * pick([0.5, 2], random);
  return Number.isInteger(n) && n >= lo && n <= hi ? n : undefined;
};

const SHARED: ParamSpec[] = [
  {
    name: "WARMUP_FRACTION",
    next: scale(0.005, 0.3),
    format: formatFloat,
    why: [
      "less warmup leaves more steps at the peak rate",
      "longer warmup steadies early training",
    ],
  },
  {
    name: "FINAL_LR_FRACTION",
    next: scale(0.01, 0.5),
    format: formatFloat,
    why: ["decaying further anneals into a sharper minimum", "a higher floor keeps learning late"],
  },
  {
    name: "WEIGHT_DECAY",
    next: scale(0.005, 0.5),
    format: formatFloat,
    why: ["less regularization fits more in a short run", "more regularization generalizes better"],
  },
  {
    name: "GRAD_CLIP",
    next: scale(0.1, 5),
    format: formatFloat,
    why: [
      "tighter clipping tames loss spikes",
      "looser clipping lets larger useful updates through",
    ],
  },
  {
    name: "MLP_RATIO",
    next: step(2, 8, [-1, 1]),
    why: ["a slimmer MLP trains more steps per second", "a wider MLP adds capacity per layer"],
  },
];

const CPU_SPECS: ParamSpec[] = [
  {
    name: "CPU_LEARNING_RATE",
    next: scale(1e-4, 3e-2),
    format: formatFloat,
    why: [
      "a lower rate reduces noise in the updates",
      "a higher rate converges faster in few steps",
    ],
  },
  {
    name: "CPU_DEPTH",
    next: step(1, 8, [-1, 1]),
    why: ["a shallower model trains faster per step", "a deeper model has more capacity"],
  },
  {
    name: "CPU_N_EMBD",
    next: grid([64, 96, 128, 160, 192, 256, 320, 384]),
    why: ["a narrower model fits the step budget better", "a wider model has more capacity"],
  },
  {
    name: "CPU_N_HEAD",
    next: grid([1, 2, 4, 8]),
    why: ["fewer, larger heads model longer patterns", "more heads attend to more patterns"],
  },
  {
    name: "CPU_TOTAL_BATCH_SIZE",
    next: tokens(256, 64 * 256),
    format: formatTokens,
    why: ["smaller batches give more updates per token", "larger batches give cleaner gradients"],
  },
];

const GPU_SPECS: ParamSpec[] = [
  {
    name: "LEARNING_RATE",
    next: scale(1e-5, 1e-2),
    format: formatFloat,
    why: ["a lower rate reduces noise in the updates", "a higher rate converges faster in budget"],
  },
  {
    name: "DEPTH",
    next: step(1, 32, [-2, -1, 1, 2]),
    why: ["a shallower model trains more tokens in budget", "a deeper model has more capacity"],
  },
  {
    name: "N_EMBD",
    next: grid([256, 384, 512, 640, 768, 1024, 1280, 1536]),
    why: ["a narrower model trains more tokens in budget", "a wider model has more capacity"],
  },
  {
    name: "N_HEAD",
    next: grid([2, 4, 6, 8, 12, 16]),
    why: ["fewer, larger heads model longer patterns", "more heads attend to more patterns"],
  },
  {
    name: "TOTAL_BATCH_SIZE",
    next: tokens(8 * 256, 1024 * 256),
    format: formatTokens,
    why: ["smaller batches give more updates per token", "larger batches give cleaner gradients"],
  },
];

/**
 * Constants never changed: seeds, budgets and step counts (changing them buys compute or luck,
 * not a better recipe), evaluation and logging knobs, the data's shape, and micro-batch sizes
 * (memory only: gradient accumulation keeps the math).
 */
const NEVER =
  /(^|_)(SEED|STEPS|ITERS|ITERATIONS)$|TIME|BUDGET|EVAL|LOG|PRINT|SAVE|CHECKPOINT|VERBOSE|DEBUG|INTERVAL|EVERY|SEQ_LEN|VOCAB|DEVICE_BATCH/;

/** Names of fractions that may start from 0 (warmup ratio 0.0 is a common default). */
const FRACTION_NAME = /RATIO|FRAC|FRACTION|DROPOUT|PROB/;

const isPowerOfTwo = (v: number) => Number.isInteger(v) && v >= 1 && (v & (v - 1)) === 0;

/** Largest value a generic integer constant may take (sizes beyond are no 5-minute run). */
const MAX_GENERIC_INT = 2 ** 31;

/** Writes integers in the file's own style: `2**k` stays a power-of-two expression. */
function formatInt(v: number, oldExpr: string): string {
  if (/^2\s*\*\*\s*\d+$/.test(oldExpr) && isPowerOfTwo(v)) {
    const spaced = /\s\*\*\s/.test(oldExpr);
    return `2${spaced ? " ** " : "**"}${Math.log2(v)}`;
  }
  return String(v);
}

/**
 * A spec for a constant of any train.py, from its value alone: integers stay integers (powers of
 * two stay powers of two, small counts move by 1 or 2, large ones by about a quarter), floats in
 * (0, 1) stay there, other positive floats scale by 0.5-2; negative values and zeros (bar
 * fractions) are left alone.
 */
export function genericSpec(name: string, value: number, expr: string): ParamSpec | undefined {
  if (NEVER.test(name) || !Number.isFinite(value) || value < 0) return undefined;
  const literalFloat = /[.eE]/.test(expr) && !/^0[xX]/.test(expr);
  const why: [string, string] = [
    `a lower ${name} may suit the budget better`,
    `a higher ${name} may help`,
  ];
  if (Number.isInteger(value) && !literalFloat) {
    if (value === 0) return undefined;
    if (isPowerOfTwo(value) && value >= 2) {
      return { name, next: tokens(1, MAX_GENERIC_INT), format: formatInt, why };
    }
    if (value <= 64) return { name, next: step(1, 4096, [-2, -1, 1, 2]), why };
    const next = (v: number, random: () => number) => {
      const n = Math.round(v * pick([0.75, 1.25], random));
      return n >= 1 && n <= MAX_GENERIC_INT && n !== v ? n : undefined;
    };
    return { name, next, why };
  }
  if (value === 0) {
    if (!FRACTION_NAME.test(name)) return undefined;
    return {
      name,
      next: (_v, random) => pick([0.01, 0.05, 0.1], random),
      format: formatFloat,
      why,
    };
  }
  if (value < 1) return { name, next: scale(1e-9, 0.999), format: formatFloat, why };
  return { name, next: scale(1e-9, value * 64), format: formatFloat, why };
}

/**
 * The constants the mutator may change in `code` on a GPU class: our known constants with their
 * tuned ranges, and every other top-level numeric UPPER_CASE constant through
 * {@link genericSpec}, so any workspace's train.py (autoresearch's included) can be mutated. On a
 * CPU class a constant with a `CPU_` twin is the twin's business; elsewhere `CPU_` ones are
 * skipped. Without `code`: the known constants only.
 */
export function mutableParams(gpuClass: string, code?: string): readonly ParamSpec[] {
  const cpu = gpuClass === "CPU";
  const known = [...(cpu ? CPU_SPECS : GPU_SPECS), ...SHARED];
  if (code === undefined) return known;
  const params = readHyperparams(code);
  const out: ParamSpec[] = [];
  for (const p of params.values()) {
    if (p.value === undefined) continue;
    if (cpu ? params.has(`CPU_${p.name}`) : p.name.startsWith("CPU_")) continue;
    const spec = known.find((s) => s.name === p.name) ?? genericSpec(p.name, p.value, p.expr);
    if (spec) out.push(spec);
  }
  return out;
}

/**
 * Pairs (a, b) where the code takes `a % b` or `a // b` of two constants: b must keep dividing a
 * when it did in the parent (a head count into a width, a micro-batch into a batch).
 */
export function divisorPairs(code: string): [string, string][] {
  const out: [string, string][] = [];
  const src = stripCommentsAndStrings(code);
  for (const m of src.matchAll(/\b([A-Z][A-Z0-9_]*)\s*(?:%|\/\/)\s*\(?\s*([A-Z][A-Z0-9_]*)\b/g)) {
    out.push([m[1]!, m[2]!]); // neither group is optional
  }
  return out;
}

/** Divisibility the parent had (per {@link divisorPairs}) and `code` lost. */
function brokenDivisors(code: string, parentCode: string): string[] {
  const before = readHyperparams(parentCode);
  const after = readHyperparams(code);
  const out: string[] = [];
  for (const [a, b] of divisorPairs(parentCode)) {
    const [pa, pb, na, nb] = [
      before.get(a)?.value,
      before.get(b)?.value,
      after.get(a)?.value,
      after.get(b)?.value,
    ];
    if (pa === undefined || pb === undefined || na === undefined || nb === undefined) continue;
    if (pb !== 0 && pa % pb === 0 && (nb === 0 || na % nb !== 0)) out.push(`${b} must divide ${a}`);
  }
  return out;
}

/** One mutation of `code`, or undefined when this draw produced nothing usable. */
function mutateOnce(
  code: string,
  gpuClass: string,
  random: () => number,
): { code: string; changes: string[]; reasons: string[] } | undefined {
  const specs = mutableParams(gpuClass, code);
  if (specs.length === 0) return undefined;
  const count = random() < 0.3 && specs.length > 1 ? 2 : 1;
  const chosen = new Set<ParamSpec>();
  while (chosen.size < count) chosen.add(pick(specs, random));
  let out = code;
  const changes: string[] = [];
  const reasons: string[] = [];
  for (const spec of chosen) {
    const p = readHyperparams(out).get(spec.name)!;
    const v = spec.next(p.value!, random);
    if (v === undefined) return undefined;
    const expr = spec.format ? spec.format(v, p.expr) : String(v);
    const next = replaceHyperparam(out, spec.name, expr);
    if (next === undefined) return undefined;
    out = next;
    changes.push(`${spec.name} ${p.expr} -> ${expr}`);
    reasons.push(spec.why[v < p.value! ? 0 : 1]);
  }
  if (brokenDivisors(out, code).length > 0) return undefined;
  return { code: out, changes, reasons };
}

/**
 * Propose a mutation of `ctx.parentCode` that passes the policy on `ctx.gpuClass` and whose
 * code no sibling already has; undefined after `tries` draws without one.
 */
export function mutate(
  ctx: Pick<ResearchContext, "parentCode" | "gpuClass" | "siblings">,
  random: () => number,
  tries = 50,
): Proposal | undefined {
  const taken = new Set(ctx.siblings.map((s) => s.code_cid));
  for (let i = 0; i < tries; i++) {
    const m = mutateOnce(ctx.parentCode, ctx.gpuClass, random);
    if (!m || m.code === ctx.parentCode) continue;
    if (taken.has(sha256Hex(m.code))) continue;
    if (policyViolations(m.code, ctx.parentCode, ctx.gpuClass).length > 0) continue;
    return {
      code: m.code,
      description: `mutator: ${m.changes.join(", ")}`,
      hypothesis: `${m.reasons.join("; ")}.`,
      agentModel: MUTATOR_AGENT,
    };
  }
  return undefined;
}

/** The mutator as a {@link Proposer}. */
export class MutatorProposer implements Proposer {
  readonly agentModel = MUTATOR_AGENT;
  readonly #random: () => number;

  /** `random` in [0, 1); inject a seeded one for reproducible runs. */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** Mutate the parent's hyperparameters; fails only when nothing new fits the policy. */
  propose(ctx: ResearchContext): Promise<ProposeResult> {
    const proposal = mutate(ctx, this.#random);
    return Promise.resolve(
      proposal
        ? { ok: true, proposal, repairs: [] }
        : { ok: false, reason: "no untried hyperparameter change fits the policy", repairs: [] },
    );
  }
}

/** A small deterministic PRNG (mulberry32) for seeded, reproducible mutator runs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
