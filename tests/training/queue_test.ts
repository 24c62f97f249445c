import assert from "node:assert/strict";
import { TrainingQueue } from "../../src/training/queue.ts";

Deno.test("TrainingQueue runs jobs one at a time in FIFO order", async () => {
  const q = new TrainingQueue();
  const events: string[] = [];
  let running = 0;
  const job = (name: string, ms: number) =>
    q.run(name, async () => {
      running++;
      assert.equal(running, 1, "two jobs ran at once");
      events.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      events.push(`end ${name}`);
      running--;
      return name;
    });
  const a = job("research", 30);
  const b = job("verify-1", 1);
  const c = job("verify-2", 10);
  assert.deepEqual(q.waiting.map((j) => j.label), ["research", "verify-1", "verify-2"]);
  assert.deepEqual(await Promise.all([a, b, c]), ["research", "verify-1", "verify-2"]);
  assert.deepEqual(events, [
    "start research",
    "end research",
    "start verify-1",
    "end verify-1",
    "start verify-2",
    "end verify-2",
  ]);
  assert.equal(q.active, null);
});

Deno.test("TrainingQueue: a failing job does not block the next", async () => {
  const q = new TrainingQueue();
  const failed = q.run("bad", () => Promise.reject(new Error("boom")));
  const next = q.run("good", () => Promise.resolve(42));
  await assert.rejects(failed, /boom/);
  assert.equal(await next, 42);
});
