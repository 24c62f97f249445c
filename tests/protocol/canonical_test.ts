import assert from "node:assert/strict";
import {
  CanonicalError,
  canonicalJson,
  compareCodePoints,
  formatPythonFloat,
  quoteString,
} from "../../src/protocol/mod.ts";

/** Random doubles from random bit patterns (all exponents, subnormals included), plus decimals. */
function randomDoubles(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0);
  const out: number[] = [];
  const view = new DataView(new ArrayBuffer(8));
  while (out.length < n) {
    view.setUint32(0, next());
    view.setUint32(4, next());
    const bits = view.getFloat64(0);
    if (Number.isFinite(bits)) out.push(bits);
    out.push(Number(((next() % 2000000) / 1000 - 1000).toFixed(next() % 7)));
    out.push((next() / 2 ** 32) * 10 ** ((next() % 40) - 20));
  }
  return out.slice(0, n);
}

const EDGE_CASES = [
  0,
  -0,
  1,
  -1,
  2,
  100,
  1e15,
  1e16,
  1e17,
  9999999999999998,
  1e-4,
  1e-5,
  0.0001,
  0.00012,
  1.5e-7,
  5e-324,
  2.2250738585072014e-308,
  2.225073858507201e-308,
  1.7976931348623157e308,
  0.1,
  0.2 + 0.1,
  123456.789,
  1e22,
  3e21,
  1234567890123456.8,
  -45060.2,
  0.9979,
  2.5e-5,
  1e21,
  1e-7,
  // Both sides of where positional and exponent notation meet (the fast path's bounds).
  9.999999999999999e-5,
  1.0000000000000002e-4,
  -1e-4,
  9.999999999999998e15,
  -9999999999999998,
  4503599627370496.5,
  20480,
  -20480.5,
];

async function pythonRepr(xs: number[]): Promise<string[]> {
  // Hex float text round-trips every double exactly, -0.0 and subnormals included.
  const hex = xs.map((x) => {
    const v = new DataView(new ArrayBuffer(8));
    v.setFloat64(0, x);
    return v.getBigUint64(0).toString(16).padStart(16, "0");
  });
  const script = "import json,struct,sys\n" +
    "xs=[struct.unpack('>d', bytes.fromhex(h))[0] for h in sys.stdin.read().split()]\n" +
    "print('\\n'.join(json.dumps(x) for x in xs))";
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(hex.join("\n")));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trimEnd().split("\n");
}

Deno.test("float formatting equals Python json.dumps on 10,000 random doubles and edge cases", async () => {
  const xs = [...EDGE_CASES, ...randomDoubles(10_000, 7470)];
  const expected = await pythonRepr(xs);
  assert.equal(expected.length, xs.length);
  let mismatches = 0;
  for (let i = 0; i < xs.length; i++) {
    const ours = formatPythonFloat(xs[i]!);
    if (ours !== expected[i]) {
      mismatches++;
      if (mismatches < 5) {
        console.error(`mismatch for ${xs[i]}: ours ${ours}, python ${expected[i]}`);
      }
    }
  }
  assert.equal(mismatches, 0);
});

Deno.test("formatPythonFloat on named edge cases", () => {
  assert.equal(formatPythonFloat(1), "1.0");
  assert.equal(formatPythonFloat(-0), "-0.0");
  assert.equal(formatPythonFloat(1e16), "1e+16");
  assert.equal(formatPythonFloat(1e15), "1000000000000000.0");
  assert.equal(formatPythonFloat(1e-5), "1e-05");
  assert.equal(formatPythonFloat(0.0001), "0.0001");
  assert.equal(formatPythonFloat(5e-324), "5e-324");
  assert.equal(formatPythonFloat(1.7976931348623157e308), "1.7976931348623157e+308");
  assert.throws(() => formatPythonFloat(NaN), RangeError);
  assert.throws(() => formatPythonFloat(Infinity), RangeError);
});

Deno.test("strings are escaped like ensure_ascii=True", async () => {
  const samples = [
    "plain",
    'quote " backslash \\ slash /',
    "tab\tnew\nline\rcr\b\f",
    "ctrl\u0001\u001f del\u007f",
    "caf\u00e9 \u00fcber",
    "emoji \u{1f9ea} test",
    "line\u2028sep\u2029",
    "\ud7ff\ue000\uffff",
    "nul\u0000byte",
    "</script>",
    Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join(""),
    "lone \ud800 high, lone \udc00 low, reversed \ude00\ud83d",
    '\u0080\u00ff\u0100\u07ff\u0800 \\u0041 \\"',
  ];
  const script = "import json,sys\nfor s in json.load(sys.stdin): print(json.dumps(s))";
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
  })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(samples)));
  await w.close();
  const lines = new TextDecoder().decode((await child.output()).stdout).trimEnd().split("\n");
  assert.deepEqual(samples.map(quoteString), lines);
});

Deno.test("canonicalJson sorts keys by code point and types numbers by schema", () => {
  assert.equal(
    canonicalJson({ b: 1, a: [true, null, "x"], c: { z: 0.5, y: 2 } }, new Set(["z"])),
    '{"a":[true,null,"x"],"b":1,"c":{"y":2,"z":0.5}}',
  );
  assert.equal(canonicalJson({ f: 3 }, new Set(["f"])), '{"f":3.0}');
  assert.throws(() => canonicalJson({ n: 0.5 }), CanonicalError);
  assert.throws(() => canonicalJson({ n: NaN }, new Set(["n"])), CanonicalError);
  assert.throws(() => canonicalJson({ n: 2 ** 60 }), CanonicalError);
  assert.throws(() => canonicalJson({ f: () => 1 }), CanonicalError);
  // U+FF5E sorts before U+1F600 by code point although its UTF-16 unit is larger than 0xD83D.
  assert.ok(compareCodePoints("\uff5e", "\u{1f600}") < 0);
  assert.equal(canonicalJson({ "\u{1f600}": 1, "\uff5e": 2 }), '{"\\uff5e":2,"\\ud83d\\ude00":1}');
});

Deno.test("canonicalJson gives the sorted text for any key order, past its plan cache", () => {
  let seed = 7;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let n = 0; n < 600; n++) {
    // Shapes of many sizes (some over the cache's key bound), each in a random insertion order.
    const size = 1 + Math.floor(rand() * (n % 7 === 0 ? 300 : 30));
    const keys = Array.from({ length: size }, (_, i) => `k${Math.floor(rand() * 1e6)}_${i}`);
    const obj: Record<string, number> = {};
    for (const k of [...keys].sort(() => rand() - 0.5)) obj[k] = keys.indexOf(k);
    const want = "{" + [...keys].sort().map((k) => `"${k}":${keys.indexOf(k)}`).join(",") + "}";
    assert.equal(canonicalJson(obj), want, `object ${n}`);
  }
  // Path of a bad value deep inside, built only for the error.
  assert.throws(() => canonicalJson({ a: [{ b: 0.5 }] }), /a\[0\]\.b: expected an integer/);
});
