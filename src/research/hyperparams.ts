/**
 * Read and rewrite the top-level hyperparameter constants of train.py (`NAME = value  # note`).
 * Values are evaluated statically from literals, earlier constants and known imports, so the
 * policy can check model-size envelopes and the mutator can edit a value without running code.
 * @module
 */

/** One top-level constant. */
export interface Hyperparam {
  name: string;
  /** Index of its line in the file. */
  line: number;
  /** The right-hand side as written (without the trailing comment). */
  expr: string;
  /** Its value when statically computable. */
  value?: number | undefined;
}

/** Constants train.py imports from prepare.py that sizes are written in. */
export const KNOWN_IMPORTS: Readonly<Record<string, number>> = { MAX_SEQ_LEN: 256 };

const ASSIGN = /^([A-Z][A-Z0-9_]*)(\s*=\s*)([^#\n]*?)(\s*(#.*)?)$/;

/** Every top-level `NAME = expr` of `code`, by name (the last assignment wins, as in Python). */
export function readHyperparams(
  code: string,
  known: Readonly<Record<string, number>> = KNOWN_IMPORTS,
): Map<string, Hyperparam> {
  const out = new Map<string, Hyperparam>();
  const scope: Record<string, number> = { ...known };
  for (const [i, line] of code.split("\n").entries()) {
    const m = ASSIGN.exec(line.replace(/\r$/, ""));
    if (!m) continue;
    // Groups 1 and 3 are not optional: a match sets both.
    const name = m[1]!;
    const expr = m[3]!.trim();
    const value = evaluate(expr, scope);
    if (value !== undefined) scope[name] = value;
    else delete scope[name];
    out.set(name, { name, line: i, expr, value });
  }
  return out;
}

/** Replace the right-hand side of constant `name`, keeping spacing and the trailing comment. */
export function replaceHyperparam(code: string, name: string, expr: string): string | undefined {
  const param = readHyperparams(code).get(name);
  if (!param) return undefined;
  const lines = code.split("\n");
  // readHyperparams found `name` on this line of the same text, so the line exists and matches.
  const line = lines[param.line]!;
  const cr = line.endsWith("\r") ? "\r" : "";
  const m = ASSIGN.exec(line.replace(/\r$/, ""))!;
  lines[param.line] = `${m[1]}${m[2]}${expr}${m[4]}${cr}`;
  return lines.join("\n");
}

/**
 * Evaluate a constant expression: numbers (with `_`, exponents, hex), names from `scope`,
 * `+ - * / // % **` and parentheses. Undefined for anything else.
 */
export function evaluate(
  expr: string,
  scope: Readonly<Record<string, number>>,
): number | undefined {
  const tokens = expr.match(
    /\*\*|\/\/|0[xX][0-9a-fA-F_]+|\d[\d_]*\.?[\d_]*(?:[eE][+-]?\d+)?|\.\d[\d_]*(?:[eE][+-]?\d+)?|[A-Za-z_]\w*|[-+*/%()]|\S/g,
  ) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const fail = (): never => {
    throw new SyntaxError(expr);
  };
  const atom = (): number => {
    const t = tokens[pos++];
    if (t === undefined) return fail();
    if (t === "(") {
      const v = sum();
      if (tokens[pos++] !== ")") fail();
      return v;
    }
    if (/^[\d.]/.test(t)) {
      const v = Number(t.replace(/_/g, ""));
      return Number.isFinite(v) ? v : fail();
    }
    const named = /^[A-Za-z_]/.test(t) && Object.hasOwn(scope, t) ? scope[t] : undefined;
    return named ?? fail();
  };
  const unary = (): number => {
    if (peek() === "-") return pos++, -unary();
    if (peek() === "+") return pos++, unary();
    return power();
  };
  const power = (): number => {
    const base = atom();
    if (peek() === "**") {
      pos++;
      return base ** unary();
    }
    return base;
  };
  const product = (): number => {
    let v = unary();
    while (["*", "/", "//", "%"].includes(peek() ?? "")) {
      const op = tokens[pos++];
      const r = unary();
      v = op === "*" ? v * r : op === "/" ? v / r : op === "//" ? Math.floor(v / r) : v % r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (peek() === "+" || peek() === "-") {
      v = tokens[pos++] === "+" ? v + product() : v - product();
    }
    return v;
  };
  try {
    if (tokens.length === 0 || tokens.length > 64) return undefined;
    const v = sum();
    return pos === tokens.length && Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
