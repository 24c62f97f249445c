import assert from "node:assert/strict";
import { NewestFirstQueue } from "../../src/net/newest_first.ts";

Deno.test("newest-first queue pops by priority and drops the oldest quarter when full", () => {
  const q = new NewestFirstQueue<string>(8);
  const order = [5, 1, 9, 3, 7, 2, 8, 4];
  for (const p of order) assert.deepEqual(q.push(`r${p}`, p), []);
  assert.equal(q.size, 8);
  const dropped = q.push("r6", 6);
  // 9 items over a capacity of 8: keep the newest 6, drop 3, 2 and 1.
  assert.deepEqual(dropped.sort(), ["r1", "r2", "r3"]);
  const out: string[] = [];
  for (let s = q.pop(); s !== undefined; s = q.pop()) out.push(s);
  assert.deepEqual(out, ["r9", "r8", "r7", "r6", "r5", "r4"]);
  assert.throws(() => new NewestFirstQueue(2), RangeError);
});
