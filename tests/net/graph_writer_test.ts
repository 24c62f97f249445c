import assert from "node:assert/strict";
import { GraphStore } from "../../src/store/mod.ts";
import { WorkerGraphWriter } from "../../src/net/graph_writer.ts";
import { makeRecords, vectorKey } from "./helpers.ts";

for (
  const [name, url] of [
    ["its worker", undefined],
    [
      "the main connection when the worker cannot start",
      new URL("./broken_worker.ts", import.meta.url),
    ],
  ] as const
) {
  Deno.test(`WorkerGraphWriter stores batches through ${name}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "spore-writer-" });
    const path = `${dir}/graph.sqlite`;
    const graph = GraphStore.open(path);
    const writer = new WorkerGraphWriter(path, graph, url);
    try {
      const recs = makeRecords(300, vectorKey(6), { tag: "w" });
      assert.equal(await writer.insertMany(recs.slice(0, 200)), 200);
      assert.equal(await writer.insertMany(recs.slice(100)), 100, "duplicates are not counted");
      assert.equal(graph.count(), 300, "the main connection sees what the writer committed");
      assert.deepEqual(graph.get(recs[150]!.id), recs[150]);
      assert.deepEqual(
        graph.frontier().map((r) => r.id).sort(),
        (() => {
          const g2 = GraphStore.open(`${dir}/check.sqlite`);
          g2.insertMany(recs);
          const ids = g2.frontier().map((r) => r.id).sort();
          g2.close();
          return ids;
        })(),
        "frontier maintained as by a direct insert",
      );
    } finally {
      await writer.close();
      graph.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("WorkerGraphWriter: its store checkpoints the WAL from a worker of its own", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-writer-" });
  const path = `${dir}/graph.sqlite`;
  const graph = GraphStore.open(path, { backgroundCheckpoint: false });
  const writer = new WorkerGraphWriter(path, graph);
  try {
    const recs = makeRecords(3_200, vectorKey(5), { tag: "cp" });
    const empty = Deno.statSync(path).size;
    // SPAWN_ROWS (2,000) start the checkpoint worker; commits once it is up ask it to run
    // (under `deno test` its module is type-checked first, which takes a moment).
    assert.equal(await writer.insertMany(recs.slice(0, 2_100)), 2_100);
    let next = 2_100;
    const deadline = Date.now() + 10_000;
    while (Deno.statSync(path).size === empty && next < recs.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      await writer.insertMany(recs.slice(next, next + 5));
      next += 5;
    }
    assert.ok(Deno.statSync(path).size > empty, "no checkpoint reached the database file");
    assert.equal(graph.count(), next);
  } finally {
    await writer.close();
    graph.close();
    await Deno.remove(dir, { recursive: true });
  }
});
