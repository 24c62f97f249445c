import assert from "node:assert/strict";
import {
  cpuLimitSeconds,
  FLOOR_SECONDS,
  loadPace,
  overLimit,
  PACE_FACTOR,
  paceOf,
  savePace,
  UNMEASURED_SECONDS,
} from "../../src/training/cpu_pace.ts";

Deno.test("cpu pace: the limit is the measured duration times the factor, with a floor", () => {
  assert.equal(cpuLimitSeconds(undefined), UNMEASURED_SECONDS);
  // A fast machine (0.7 s/step, 40 s overhead, 150 steps: 145 s) gets the floor.
  const fast = { secondsPerStep: 0.7, overheadSeconds: 40, steps: 150 };
  assert.equal(cpuLimitSeconds(fast), FLOOR_SECONDS);
  // A reference-BLAS machine (5 s/step): 3 x (40 + 750) s.
  const slow = { secondsPerStep: 5, overheadSeconds: 40, steps: 150 };
  assert.equal(cpuLimitSeconds(slow), PACE_FACTOR * 790);
  // A run with more steps than the measured one gets a proportionally longer limit.
  assert.equal(cpuLimitSeconds(slow, 300), PACE_FACTOR * (40 + 1500));
});

Deno.test("cpu pace: only trustworthy figures become a pace", () => {
  assert.deepEqual(paceOf({ trainingSeconds: 105, numSteps: 150, wallSeconds: 145 }), {
    secondsPerStep: 0.7,
    overheadSeconds: 40,
    steps: 150,
  });
  assert.equal(paceOf({ trainingSeconds: 0, numSteps: 150, wallSeconds: 10 }), undefined);
  assert.equal(paceOf({ trainingSeconds: 10, numSteps: 0, wallSeconds: 10 }), undefined);
  assert.equal(paceOf({ trainingSeconds: 50, numSteps: 10, wallSeconds: 20 }), undefined);
});

Deno.test("cpu pace: an ETA past the limit is reported once the estimate has settled", () => {
  assert.equal(overLimit(10, { percent: 5, remainingSeconds: 5000 }, 600), undefined);
  assert.equal(overLimit(100, { percent: 20, remainingSeconds: 400 }, 600), undefined);
  assert.equal(overLimit(200, { percent: 18, remainingSeconds: 944 }, 600), 1144);
  assert.equal(overLimit(200, { percent: 50 }, 600), undefined);
  assert.equal(overLimit(200, undefined, 600), undefined);
});

Deno.test("cpu pace: saved and loaded; a corrupt or foreign file means not measured", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/cpu_pace.json`;
    assert.equal(await loadPace(path), undefined);
    const pace = { secondsPerStep: 1.25, overheadSeconds: 30, steps: 150 };
    await savePace(path, pace);
    assert.deepEqual(await loadPace(path), pace);
    for (const junk of ["{", "null", '{"secondsPerStep":-1,"overheadSeconds":1,"steps":1}', "[]"]) {
      await Deno.writeTextFile(path, junk);
      assert.equal(await loadPace(path), undefined, junk);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
