/**
 * Canonical JSON bytes, byte-compatible with Python's
 * `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)` (PROTOCOL.md section 2).
 *
 * Python distinguishes int from float where JavaScript has one number type, so callers name the
 * keys whose values are floats; every other number must be an integer.
 * @module
 */

const ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
};

// Everything Python's ensure_ascii escapes: controls, quote, backslash, DEL and all non-ASCII
// UTF-16 code units (astral characters therefore come out as surrogate-pair escapes).
// deno-lint-ignore no-control-regex -- matching control characters is the point
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\u007f-\uffff]/g;

function escapeChar(ch: string): string {
  return ESCAPES[ch] ?? "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
}

// deno-lint-ignore no-control-regex -- same class as NEEDS_ESCAPE, for a fast non-global test
const HAS_ESCAPE = /[\u0000-\u001f"\\\u007f-\uffff]/;

/** Quote a string the way Python's `json.dumps(..., ensure_ascii=True)` does. */
export function quoteString(s: string): string {
  // Most strings need no escaping; testing first avoids building a new string.
  return HAS_ESCAPE.test(s) ? '"' + s.replace(NEEDS_ESCAPE, escapeChar) + '"' : '"' + s + '"';
}

/**
 * Format a finite double as Python's `repr(float)`: shortest round-trip digits, `.0` on integral
 * values, exponent form when the decimal exponent is below -4 or at least 16.
 */
export function formatPythonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`not a finite float: ${x}`);
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  // toExponential() with no argument yields the shortest digits that round-trip.
  const [mantissa, expText] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exp = Number(expText);
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

// Records and profiles repeat the same key sets, so their sorted order is cached by shape.
const KEY_ORDER_CACHE = new Map<string, string[]>();
const KEY_ORDER_CACHE_MAX = 256;

function sortedKeys(keys: string[]): string[] {
  const shape = keys.join("\u0000");
  let sorted = KEY_ORDER_CACHE.get(shape);
  if (!sorted) {
    sorted = keys.sort(compareCodePoints);
    if (KEY_ORDER_CACHE.size < KEY_ORDER_CACHE_MAX) KEY_ORDER_CACHE.set(shape, sorted);
  }
  return sorted;
}

/** Thrown when a value cannot be expressed in canonical JSON. */
export class CanonicalError extends Error {
  override name = "CanonicalError";
}

function encodeNumber(n: number, isFloat: boolean, path: string): string {
  if (!Number.isFinite(n)) throw new CanonicalError(`${path}: NaN and infinities are invalid`);
  if (isFloat) return formatPythonFloat(n);
  if (!Number.isInteger(n)) throw new CanonicalError(`${path}: expected an integer, got ${n}`);
  if (!Number.isSafeInteger(n)) throw new CanonicalError(`${path}: integer out of safe range`);
  return Object.is(n, -0) ? "0" : String(n);
}

function encode(value: unknown, floatKeys: ReadonlySet<string>, key: string, path: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return quoteString(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return encodeNumber(value, floatKeys.has(key), path);
    case "object": {
      if (Array.isArray(value)) {
        return "[" + value.map((v, i) => encode(v, floatKeys, key, `${path}[${i}]`)).join(",") +
          "]";
      }
      const obj = value as Record<string, unknown>;
      const keys = sortedKeys(Object.keys(obj)).filter((k) => obj[k] !== undefined);
      const parts = keys.map((k) =>
        quoteString(k) + ":" + encode(obj[k], floatKeys, k, path ? `${path}.${k}` : k)
      );
      return "{" + parts.join(",") + "}";
    }
    default:
      throw new CanonicalError(`${path || "value"}: ${typeof value} is not JSON`);
  }
}

/**
 * Canonical JSON text of `value`. Numbers under a key listed in `floatKeys` are written as
 * Python floats; all other numbers must be safe integers. Keys with `undefined` values are omitted.
 * @throws {CanonicalError} on NaN, infinities, non-integers outside `floatKeys`, or non-JSON values.
 */
export function canonicalJson(value: unknown, floatKeys: ReadonlySet<string> = new Set()): string {
  return encode(value, floatKeys, "", "");
}
