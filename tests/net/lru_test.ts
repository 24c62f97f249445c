import assert from "node:assert/strict";
import { LruSet } from "../../src/net/lru.ts";

Deno.test("LruSet keeps at most its capacity and evicts the oldest", () => {
  const s = new LruSet(3);
  for (const k of ["a", "b", "c"]) s.add(k);
  s.add("a"); // refresh: b is now the oldest
  s.add("d");
  assert.equal(s.size, 3);
  assert.equal(s.has("b"), false);
  assert.deepEqual(["a", "c", "d"].map((k) => s.has(k)), [true, true, true]);
  for (let i = 0; i < 10_000; i++) s.add(`k${i}`);
  assert.equal(s.size, 3);
  assert.ok(s.has("k9999") && !s.has("k0"));
});
