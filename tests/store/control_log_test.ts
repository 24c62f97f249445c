import assert from "node:assert/strict";
import { join } from "node:path";
import type { ControlType } from "../../src/protocol/mod.ts";
import { ControlLog, StoreError } from "../../src/store/mod.ts";
import { withTempDir } from "./helpers.ts";

const EXP = "e".repeat(64);

function challenge(challenger: string, bpb = 0.91): Record<string, unknown> & { event_id: string } {
  return {
    event_id: `challenge:${EXP}:${challenger}`,
    experiment_id: EXP,
    challenger_id: challenger,
    challenger_bpb: bpb,
    challenger_gpu: "H100",
  };
}

Deno.test("control log: append dedupes by type and event id; seq orders replay", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "control.sqlite");
    let log = ControlLog.open(path);
    const c1 = challenge("a");
    assert.equal(log.append("challenge", c1), 1);
    assert.equal(log.append("challenge", c1), null);
    const v = {
      event_id: `verification:${EXP}:b`,
      experiment_id: EXP,
      verified_node_id: "n",
      verifier_id: "b",
      verifier_gpu: "H100",
      verifier_bpb: 0.9,
      is_frontier: true,
    };
    assert.equal(log.append("verification", v), 2);
    // Same event id under another type is a different event.
    assert.equal(log.append("dispute", { ...c1, outcome: "upheld" }), 3);
    assert.equal(log.has("challenge", c1.event_id), true);
    assert.equal(log.has("verification", c1.event_id), false);
    assert.deepEqual(log.get("verification", v.event_id), v);
    assert.equal(log.get("challenge", "nope"), undefined);
    log.close();
    log = ControlLog.open(path);
    assert.equal(log.maxSeq(), 3);
    assert.deepEqual(log.afterSeq(1, 10).map((e) => [e.seq, e.type]), [
      [2, "verification"],
      [3, "dispute"],
    ]);
    assert.deepEqual(log.afterSeq(0, 1).map((e) => e.payload), [c1]);
    log.append("challenge", { ...challenge("z"), experiment_id: "other" });
    assert.deepEqual(log.byExperiment(EXP).map((e) => e.seq), [1, 2, 3]);
    log.close();
  });
});

Deno.test("control log: signed float values (-0.0) and extension keys survive", async () => {
  await withTempDir((dir) => {
    const log = ControlLog.open(join(dir, "control.sqlite"));
    const zero = challenge("neg", -0);
    log.append("challenge", zero);
    assert.ok(Object.is(log.get("challenge", zero.event_id)!.challenger_bpb, -0));
    const ext = { ...challenge("ext"), note: 0.25, nested: { list: [1, "x\u0000y"] } };
    log.append("challenge", ext);
    assert.deepEqual(log.get("challenge", ext.event_id), ext);
    log.close();
  });
});

Deno.test("control log: malformed events are refused", async () => {
  await withTempDir((dir) => {
    const log = ControlLog.open(join(dir, "control.sqlite"));
    assert.throws(() => log.append("bogus" as ControlType, challenge("a")), StoreError);
    assert.throws(() => log.append("challenge", { experiment_id: EXP }), StoreError);
    assert.throws(() => log.append("challenge", { event_id: "" }), StoreError);
    assert.throws(() => log.append("challenge", { event_id: "x", big: 10n }), StoreError);
    assert.throws(
      () => log.append("challenge", { event_id: "x", pad: "p".repeat(70_000) }),
      StoreError,
    );
    assert.equal(log.maxSeq(), 0);
    log.close();
  });
});
