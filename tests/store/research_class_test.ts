/** Research classes in the graph: per-class frontier, the datasets of a prepare.py, class list. */
import assert from "node:assert/strict";
import { GraphStore } from "../../src/store/mod.ts";
import { makeRecord } from "./helpers.ts";

const P1 = "ab".repeat(32);
const P2 = "cd".repeat(32);

Deno.test("graph: frontier of a class, datasets of a prepare.py, classes largest first", () => {
  const g = GraphStore.open(":memory:");
  try {
    const a = makeRecord({ val_bpb: 0.99 }); // climbmix / P1, H100
    const b = makeRecord({ val_bpb: 0.95, gpu_model: "NVIDIA GeForce RTX 4090" });
    const c = makeRecord({ val_bpb: 2.1, dataset_cid: "synthetic-x", prepare_cid: P2 });
    const d = makeRecord({ val_bpb: 0.5, dataset_cid: "other", prepare_cid: P1 });
    const e = makeRecord({ val_bpb: 0.9, status: "discard" });
    g.insertMany([a, b, c, d, e]);
    const climb = { datasetCid: "climbmix-400b-shuffle", prepareCid: P1 };
    assert.deepEqual(g.frontierOfClass(climb).map((r) => r.id), [b.id, a.id]);
    assert.deepEqual(g.frontierOfClass(climb, "H100").map((r) => r.id), [a.id]);
    assert.deepEqual(g.frontierOfClass({ datasetCid: "x", prepareCid: P1 }), []);
    assert.deepEqual(g.datasetsOfPrepare(P1), [
      { datasetCid: "climbmix-400b-shuffle", count: 3 },
      { datasetCid: "other", count: 1 },
    ]);
    assert.deepEqual(g.datasetsOfPrepare("ef".repeat(32)), []);
    assert.deepEqual(g.classes(), [
      {
        datasetCid: "climbmix-400b-shuffle",
        prepareCid: P1,
        count: 3,
        frontierSize: 2,
        bestValBpb: 0.95,
      },
      { datasetCid: "other", prepareCid: P1, count: 1, frontierSize: 1, bestValBpb: 0.5 },
      { datasetCid: "synthetic-x", prepareCid: P2, count: 1, frontierSize: 1, bestValBpb: 2.1 },
    ]);
  } finally {
    g.close();
  }
});

Deno.test("graph: a class's frontier read page by page is the whole frontier in order", () => {
  const g = GraphStore.open(":memory:");
  try {
    // Ties on val_bpb are ordered by id, so a page boundary inside a tie loses nothing.
    const recs = [0.9, 0.8, 0.8, 0.8, 0.7, 1.1, 0.8].map((v) => makeRecord({ val_bpb: v }));
    g.insertMany(recs);
    const climb = { datasetCid: "climbmix-400b-shuffle", prepareCid: P1 };
    const whole = g.frontierOfClass(climb).map((r) => r.id);
    assert.equal(whole.length, recs.length);
    for (const page of [1, 2, 3, 7, 8]) {
      assert.deepEqual([...g.frontierOfClassAll(climb, undefined, page)].map((r) => r.id), whole);
    }
    assert.deepEqual(
      [...g.frontierOfClassAll(climb, "H100", 2)].map((r) => r.id),
      g.frontierOfClass(climb, "H100").map((r) => r.id),
    );
  } finally {
    g.close();
  }
});
