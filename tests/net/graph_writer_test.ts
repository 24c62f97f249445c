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
      assert.deepEqual(graph.get(recs[150].id), recs[150]);
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
