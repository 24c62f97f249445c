import assert from "node:assert/strict";
import { backoffDelay } from "../../src/net/backoff.ts";

Deno.test("backoff doubles per failure, is capped, and jitters within [d/2, d]", () => {
  const p = { baseMs: 1000, maxMs: 60_000 };
  assert.equal(backoffDelay(1, p, () => 0), 500);
  assert.equal(backoffDelay(1, p, () => 0.999999), 1000);
  assert.equal(backoffDelay(3, p, () => 0), 2000);
  assert.equal(backoffDelay(3, p, () => 0.5), 3000);
  assert.equal(backoffDelay(50, p, () => 0), 30_000);
  assert.equal(backoffDelay(1e9, p, () => 0.999999), 60_000);
  assert.equal(backoffDelay(0, p, () => 0), 500);
});
