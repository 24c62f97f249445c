import assert from "node:assert/strict";
import {
  normalizeGpuClass,
  parseAddress,
  toleranceFor,
  withinTolerance,
} from "../../src/protocol/mod.ts";

Deno.test("GPU class normalization follows PROTOCOL.md section 7", () => {
  const cases: [string, string][] = [
    ["", "UNKNOWN"],
    ["  ", "UNKNOWN"],
    ["cpu", "CPU"],
    ["unknown", "UNKNOWN"],
    ["mps", "APPLE_MPS"],
    ["Apple M2 Max", "APPLE_MPS"],
    ["H100", "H100"],
    // Only a leading H100 is shortened (the Python node's rule): no NVIDIA_ prefix stripping.
    ["NVIDIA H100 80GB HBM3", "NVIDIA_H100_80GB_HBM3"],
    ["H100 80GB HBM3", "H100"],
    ["H100-SXM", "H100"],
    ["A100-SXM4-40GB", "A100"],
    ["NVIDIA A100-SXM4-40GB", "NVIDIA_A100_SXM4_40GB"],
    ["NVIDIA GeForce RTX 4090", "RTX_4090"],
    ["RTX4090", "RTX_4090"],
    ["rtx_3060", "RTX_3060"],
    ["GeForce GTX 1080", "GTX_1080"],
    ["Tesla  T4", "TESLA_T4"],
  ];
  for (const [input, want] of cases) assert.equal(normalizeGpuClass(input), want, input);
});

Deno.test("tolerance table and comparison", () => {
  assert.equal(toleranceFor("H100"), 0.0015);
  assert.equal(toleranceFor("NVIDIA GeForce RTX 3090"), 0.003);
  assert.equal(toleranceFor("CPU"), 0.002);
  // The Python network's H100 nodes are class NVIDIA_H100_80GB_HBM3: the default tolerance.
  assert.equal(toleranceFor("NVIDIA H100 80GB HBM3"), 0.002);
  assert.equal(toleranceFor("NVIDIA_H100_80GB_HBM3"), 0.002);
  assert.ok(withinTolerance(1.0, 1.0014, "H100"));
  assert.ok(!withinTolerance(1.0, 1.0016, "H100"));
});

Deno.test("peer addresses parse with clear errors", () => {
  assert.deepEqual(parseAddress("127.0.0.1:7470"), {
    ok: true,
    value: { host: "127.0.0.1", port: 7470 },
  });
  assert.deepEqual(parseAddress("[::1]:80"), { ok: true, value: { host: "::1", port: 80 } });
  assert.ok(parseAddress("peer.sporemesh.com:7470").ok);
  for (const bad of ["nohost", "host:0", "host:70000", ":80", "a b:1", "host:port", "-bad-:1"]) {
    const r = parseAddress(bad);
    assert.ok(!r.ok && r.reason.length > 0, bad);
  }
});
