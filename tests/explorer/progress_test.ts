/** `/api/progress`: points, running best, filters, downsampling, late arrivals and bad input. */
import assert from "node:assert/strict";
import { createApp } from "../../src/explorer/server.ts";
import { MAX_PROGRESS_POINTS, ProgressIndex } from "../../src/explorer/progress.ts";
import { makeRecord, seedGraph, withNode } from "./helpers.ts";

const H100 = encodeURIComponent("NVIDIA H100 80GB HBM3");

type Point = {
  id: string;
  val_bpb: number | null;
  status: string;
  best: number | null;
  delta: number | null;
  description: string;
  timestamp: number;
  node_id: string;
};

Deno.test("progress: every record of a GPU class in time order with the running best", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const res = await app.request(`/api/progress?gpu=${H100}`);
    assert.equal(res.status, 200);
    const body = await res.json();
    const points = body.points as Point[];
    // The H100 records: root, a1, a2, b1 (discard), c1 (crash); not the 4090 one.
    assert.deepEqual(points.map((p) => p.id), [g.root.id, g.a1.id, g.a2.id, g.b1.id, g.c1.id]);
    assert.deepEqual(points.map((p) => p.best), [1.1, 1.05, 0.98, 0.98, 0.98]);
    assert.deepEqual(points.map((p) => p.val_bpb), [1.1, 1.05, 0.98, 1.2, null]);
    assert.equal(points[3]!.delta!.toFixed(2), "0.10"); // b1 1.2 vs root 1.1
    assert.equal(points[2]!.delta!.toFixed(2), "-0.07"); // a2 0.98 vs a1 1.05
    assert.equal(points[0]!.delta, null); // a root
    assert.equal(points[4]!.delta, null); // a crash
    assert.equal(points[1]!.description, "raise learning rate");
    assert.deepEqual(body.counts, { keep: 3, discard: 1, crash: 1 });
    assert.equal(body.total, 5);
    assert.equal(body.downsampled, false);
    assert.equal(body.complete, true);

    const all = await (await app.request("/api/progress")).json();
    assert.equal(all.points.length, 6);
    const rtx = await (await app.request(`/api/progress?gpu=${encodeURIComponent("RTX 4090")}`))
      .json();
    assert.deepEqual(rtx.points.map((p: Point) => p.id), [g.rtx.id]);
    const cls = await (await app.request(
      `/api/progress?class=climbmix-400b-shuffle/${"ab".repeat(32)}`,
    )).json();
    assert.equal(cls.points.length, 6);
    const other = await (await app.request("/api/progress?class=other/cafe")).json();
    assert.equal(other.points.length, 0);
  });
});

Deno.test("progress: later records extend the series; an older late arrival rewrites the best", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const first = await (await app.request(`/api/progress?gpu=${H100}`)).json();
    assert.equal(first.points.length, 5);
    // A record timestamped before a1 but better than everything arrives late (sync).
    const early = makeRecord({ parent: g.root, val_bpb: 0.9, timestamp: g.root.timestamp + 5 });
    node.receive(early);
    const later = makeRecord({ parent: g.a2, val_bpb: 0.95, timestamp: g.c1.timestamp + 100 });
    node.receive(later);
    const body = await (await app.request(`/api/progress?gpu=${H100}`)).json();
    const points = body.points as Point[];
    assert.equal(points.length, 7);
    assert.equal(points[1]!.id, early.id);
    // Everything after the early record has best 0.9: a1 (1.05), a2 (0.98) and later (0.95)
    // never beat it.
    assert.deepEqual(points.map((p) => p.best), [1.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]);
  });
});

Deno.test("progress: a large class is downsampled to a bound, keeping every new best", async () => {
  await withNode((node) => {
    const recs = [];
    let parent = makeRecord({ val_bpb: 2, timestamp: 1_000 });
    recs.push(parent);
    const n = MAX_PROGRESS_POINTS * 3;
    for (let i = 1; i < n; i++) {
      // Every 500th record is a new best; the rest are discards.
      const better = i % 500 === 0;
      const rec = makeRecord({
        parent,
        val_bpb: better ? 2 - i / n : 2.5,
        status: better ? "keep" : "discard",
        timestamp: 1_000 + i,
      });
      if (better) parent = rec;
      recs.push(rec);
    }
    node.stores.graph.insertMany(recs);
    const body = new ProgressIndex(node.stores.graph).query({});
    assert.equal(body.total, n);
    assert.equal(body.downsampled, true);
    assert.ok(body.points.length <= MAX_PROGRESS_POINTS + 20, `${body.points.length} points`);
    assert.ok(body.points.length >= MAX_PROGRESS_POINTS / 2, `${body.points.length} points`);
    const ids = new Set(body.points.map((p) => p.id));
    for (const r of recs.filter((r) => r.status === "keep")) assert.ok(ids.has(r.id));
    const last = body.points[body.points.length - 1]!;
    assert.equal(last.best, Math.min(...recs.map((r) => r.val_bpb)));
    for (let i = 1; i < body.points.length; i++) {
      assert.ok(body.points[i]!.timestamp >= body.points[i - 1]!.timestamp);
      assert.ok(body.points[i]!.best! <= body.points[i - 1]!.best!);
    }
  });
});

Deno.test("progress: bad filters answer 400 with what is accepted", async () => {
  await withNode(async (node) => {
    const app = createApp(node);
    for (
      const q of [
        "class=noslash",
        "class=a:b%20c",
        `class=${"x".repeat(300)}:y`,
        `gpu=${"g".repeat(65)}`,
      ]
    ) {
      const res = await app.request(`/api/progress?${q}`);
      assert.equal(res.status, 400, q);
      assert.match((await res.json()).error, /class|gpu/);
    }
  });
});
