import assert from "node:assert/strict";
import { generateKeyPair } from "../src/protocol/mod.ts";
import { makeRecords, startNode, type TestNode, waitFor } from "./net/helpers.ts";

Deno.test("published and received records count once in experiments_published", async () => {
  const a = await startNode();
  let b: TestNode | undefined;
  try {
    const key = generateKeyPair();
    const recs = makeRecords(5, key, { tag: "pub" });
    for (const r of recs) await a.node.publish(r);
    await a.node.publish(recs[0]!); // a repeat is not a new publish
    b = await startNode({ peers: [a.address] });
    const bb = b;
    await waitFor(() => bb.node.stores.graph.count() === 5, "sync to B");
    await waitFor(
      () => bb.node.stores.reputation.get(key.nodeId).experiments_published === 5,
      "B counts the publishes",
    );
    await waitFor(
      () => a.node.stores.reputation.get(key.nodeId).experiments_published === 5,
      "A counts its own",
    );
    assert.equal(a.node.stores.reputation.get(key.nodeId).score, 0);
  } finally {
    await Promise.all([b?.stop(), a.stop()]);
  }
});
