/**
 * Canonical JSON bytes, byte-compatible with Python's
 * `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)` (PROTOCOL.md section 2).
 *
 * Python distinguishes int from float where JavaScript has one number type, so callers name the
 * keys whose values are floats; every other number must be an integer.
 * @module
 */

// Everything Python's ensure_ascii escapes: controls, quote, backslash, DEL and all non-ASCII
// UTF-16 code units (astral characters therefore come out as surrogate-pair escapes).
// deno-lint-ignore no-control-regex -- matching control characters is the point
const HAS_ESCAPE = /[\u0000-\u001f"\\\u007f-\uffff]/;

// What JSON.stringify leaves unescaped but Python escapes: DEL and every non-ASCII code unit.
const NON_ASCII = /[\u007f-\uffff]/;
const NON_ASCII_ALL = /[\u007f-\uffff]/g;

function escapeUnit(ch: string): string {
  return "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
}

/** Quote a string the way Python's `json.dumps(..., ensure_ascii=True)` does. */
export function quoteString(s: string): string {
  // Most strings need no escaping; testing first avoids building a new string.
  if (!HAS_ESCAPE.test(s)) return '"' + s + '"';
  // JSON.stringify escapes quote, backslash and controls exactly as Python does (\n, \t, ...,
  // else \u00xx in lowercase) and lone surrogates as \udxxx; the rest is ASCII-only escaping.
  const json = JSON.stringify(s);
  return NON_ASCII.test(json) ? json.replace(NON_ASCII_ALL, escapeUnit) : json;
}

/**
 * Format a finite double as Python's `repr(float)`: shortest round-trip digits, `.0` on integral
 * values, exponent form when the decimal exponent is below -4 or at least 16.
 */
export function formatPythonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`not a finite float: ${x}`);
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const abs = Math.abs(x);
  if (abs >= 1e-4 && abs < 1e16) {
    // Where both write positional notation, JavaScript's shortest round-trip digits are
    // Python's; Python only adds ".0" to integral values. The common case, and 5x faster.
    const text = String(x);
    return Number.isInteger(x) ? text + ".0" : text;
  }
  const sign = x < 0 ? "-" : "";
  // toExponential() with no argument yields the shortest digits that round-trip.
  const exponential = Math.abs(x).toExponential();
  const e = exponential.indexOf("e");
  const digits = exponential.slice(0, e).replace(".", "");
  const exp = Number(exponential.slice(e + 1));
  if (exp < -4 || exp >= 16) {
    const frac = digits.length > 1 ? "." + digits.slice(1) : "";
    const expSign = exp < 0 ? "-" : "+";
    return `${sign}${digits[0]}${frac}e${expSign}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${"0".repeat(exp + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

/** Compare two strings by Unicode code point, as Python sorts dict keys. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

/** How to write an object with one key order: its keys sorted, each with its quoted `"key":`. */
interface KeyPlan {
  /** The keys in the order `Object.keys` gave them, to recognize the next object of this shape. */
  source: readonly string[];
  sorted: readonly string[];
  prefixes: readonly string[];
}

// Records, profiles and events repeat a few key sets, so their plans are cached by shape.
// Comparing key arrays is much cheaper than building a shape string per object.
const PLANS = new Map<number, KeyPlan[]>();
const PLANS_PER_SIZE = 8;
/**
 * Bounds on the cache: objects from peers must not grow it without limit. Protocol objects have
 * at most a few dozen keys; bigger ones get a plan that is not kept.
 */
const PLANS_MAX = 256;
const PLAN_MAX_KEYS = 64;
let planCount = 0;

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function keyPlan(keys: string[]): KeyPlan {
  const candidates = PLANS.get(keys.length);
  if (candidates) {
    for (const plan of candidates) if (sameKeys(plan.source, keys)) return plan;
  }
  const sorted = [...keys].sort(compareCodePoints);
  const plan = { source: keys, sorted, prefixes: sorted.map((k) => quoteString(k) + ":") };
  const full = planCount >= PLANS_MAX || (candidates?.length ?? 0) >= PLANS_PER_SIZE;
  if (full || keys.length > PLAN_MAX_KEYS) return plan;
  if (candidates) candidates.push(plan);
  else PLANS.set(keys.length, [plan]);
  planCount++;
  return plan;
}

/** Thrown when a value cannot be expressed in canonical JSON. */
export class CanonicalError extends Error {
  override name = "CanonicalError";
}

/** Path of a value for error messages, built only when one is thrown or a container nests. */
function pathOf(parent: string, step: string | number): string {
  if (typeof step === "number") return `${parent}[${step}]`;
  return parent ? `${parent}.${step}` : step;
}

function encodeNumber(n: number, isFloat: boolean, parent: string, step: string | number): string {
  if (!Number.isFinite(n)) {
    throw new CanonicalError(`${pathOf(parent, step)}: NaN and infinities are invalid`);
  }
  if (isFloat) return formatPythonFloat(n);
  if (!Number.isInteger(n)) {
    throw new CanonicalError(`${pathOf(parent, step)}: expected an integer, got ${n}`);
  }
  if (!Number.isSafeInteger(n)) {
    throw new CanonicalError(`${pathOf(parent, step)}: integer out of safe range`);
  }
  return Object.is(n, -0) ? "0" : String(n);
}

/**
 * Encode `value`, found under `key` (the nearest object key, which decides float typing) at
 * `step` (a key or an array index) below the container at path `parent`.
 */
function encode(
  value: unknown,
  floatKeys: ReadonlySet<string>,
  key: string,
  parent: string,
  step: string | number,
): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return quoteString(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return encodeNumber(value, floatKeys.has(key), parent, step);
    case "object": {
      const path = pathOf(parent, step);
      if (Array.isArray(value)) {
        return "[" + value.map((v, i) => encode(v, floatKeys, key, path, i)).join(",") + "]";
      }
      const obj = value as Record<string, unknown>;
      const plan = keyPlan(Object.keys(obj));
      let out = "{";
      for (let i = 0; i < plan.sorted.length; i++) {
        // In range: i < sorted.length, and prefixes is built from sorted (one per key).
        const k = plan.sorted[i]!;
        const v = obj[k];
        if (v === undefined) continue;
        if (out.length > 1) out += ",";
        out += plan.prefixes[i]! + encode(v, floatKeys, k, path, k);
      }
      return out + "}";
    }
    default:
      throw new CanonicalError(`${pathOf(parent, step) || "value"}: ${typeof value} is not JSON`);
  }
}

/**
 * Canonical JSON text of `value`. Numbers under a key listed in `floatKeys` are written as
 * Python floats; all other numbers must be safe integers. Keys with `undefined` values are omitted.
 * @throws {CanonicalError} on NaN, infinities, non-integers outside `floatKeys`, or non-JSON values.
 */
export function canonicalJson(value: unknown, floatKeys: ReadonlySet<string> = new Set()): string {
  return encode(value, floatKeys, "", "", "");
}
