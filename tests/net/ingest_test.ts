import assert from "node:assert/strict";
import { GraphStore } from "../../src/store/mod.ts";
import { RecordIngest } from "../../src/net/ingest.ts";
import type { GraphWriter } from "../../src/net/graph_writer.ts";
import { RecordVerifier } from "../../src/net/verify_pool.ts";
import { makeRecords, vectorKey } from "./helpers.ts";
import { take } from "../tuple.ts";

async function withIngest(
  fn: (ingest: RecordIngest<string>, graph: GraphStore, stored: string[]) => Promise<void>,
  writer?: GraphWriter,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spore-ingest-" });
  const graph = GraphStore.open(`${dir}/graph.sqlite`);
  const verifier = new RecordVerifier(1);
  const stored: string[] = [];
  const ingest = new RecordIngest<string>({
    graph,
    validate: (raw) => verifier.validate(raw),
    onStored: (batch) => stored.push(...batch.map((b) => `${b.source}:${b.record.id}`)),
    batchSize: 64,
    dedupeCapacity: 1000,
    writer,
  });
  try {
    await fn(ingest, graph, stored);
  } finally {
    await ingest.flush();
    verifier.close();
    graph.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ingest stores in order, dedupes, and runs markers after what came before", async () => {
  await withIngest(async (ingest, graph, stored) => {
    const recs = makeRecords(500, vectorKey(0), { tag: "in" });
    let atMarker = -1;
    for (const r of recs.slice(0, 300)) ingest.submit(r, "p1");
    ingest.afterPending((durable) => {
      assert.equal(durable, true);
      atMarker = graph.count();
    });
    for (const r of recs.slice(200)) ingest.submit(r, "p2"); // 100 in-flight duplicates
    await ingest.flush();
    // It may run a little later (once the batch holding record 300 commits), never earlier.
    assert.ok(atMarker >= 300 && atMarker < 500, `the marker saw ${atMarker} records`);
    assert.equal(graph.count(), 500);
    assert.equal(stored.length, 500);
    assert.deepEqual(stored.slice(0, 3), recs.slice(0, 3).map((r) => `p1:${r.id}`));
    for (const r of recs.slice(0, 10)) ingest.submit(r, "p3"); // now stored: cache hits
    await ingest.flush();
    assert.deepEqual(ingest.stats, { received: 610, stored: 500, duplicates: 110, invalid: 0 });
  });
});

Deno.test("a forgery reusing an id does not shadow the genuine record behind it", async () => {
  await withIngest(async (ingest, graph) => {
    const [rec] = take(makeRecords(1, vectorKey(1), { tag: "forge" }), 1);
    ingest.submit({ ...rec, description: "tampered" }, "evil");
    ingest.submit(rec, "honest");
    ingest.submit({ id: 5 }, "evil");
    await ingest.flush();
    assert.equal(graph.get(rec.id)?.description, rec.description);
    assert.equal(ingest.stats.invalid, 2);
    assert.equal(ingest.stats.stored, 1);
  });
});

Deno.test("whenBelow resolves as the pipeline drains", async () => {
  await withIngest(async (ingest) => {
    for (const r of makeRecords(200, vectorKey(2), { tag: "bp" })) ingest.submit(r, "p");
    assert.ok(ingest.pending > 50);
    await ingest.whenBelow(50);
    assert.ok(ingest.pending < 50);
  });
});

Deno.test("markers waiting on a batch that fails to store all report not durable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-ingest-fail-" });
  const graph = GraphStore.open(`${dir}/graph.sqlite`);
  let failNext = true;
  const writer: GraphWriter = {
    insertMany: (records) => {
      if (!failNext) return Promise.resolve(graph.insertMany(records));
      failNext = false;
      return Promise.reject(new Error("disk full"));
    },
    close: () => Promise.resolve(),
  };
  try {
    await withIngest(async (ingest) => {
      const recs = makeRecords(40, vectorKey(3), { tag: "fail" });
      const seen: boolean[] = [];
      for (const r of recs.slice(0, 10)) ingest.submit(r, "p");
      ingest.afterPending((durable) => seen.push(durable));
      for (const r of recs.slice(10, 20)) ingest.submit(r, "p");
      ingest.afterPending((durable) => seen.push(durable));
      await ingest.flush();
      // Both waited on records of the failed batch: neither may let a cursor advance.
      assert.deepEqual(seen, [false, false]);
      for (const r of recs.slice(20)) ingest.submit(r, "p");
      ingest.afterPending((durable) => seen.push(durable));
      await ingest.flush();
      assert.deepEqual(seen, [false, false, true]);
      assert.equal(ingest.stats.stored, 20);
      // A batch failing with no marker waiting (committed once the stream paused) still makes
      // the next marker report not durable.
      failNext = true;
      ingest.submit(makeRecords(1, vectorKey(3), { tag: "fail-alone" })[0], "p");
      await new Promise((r) => setTimeout(r, 100));
      ingest.afterPending((durable) => seen.push(durable));
      await ingest.flush();
      assert.deepEqual(seen, [false, false, true, false]);
    }, writer);
  } finally {
    graph.close();
    await Deno.remove(dir, { recursive: true });
  }
});
