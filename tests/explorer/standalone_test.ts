/** StoreNode: the network-less NodeHandle of `spore explorer`, following another writer. */
import assert from "node:assert/strict";
import { StoreNode } from "../../src/explorer/standalone.ts";
import { openStores } from "../../src/store/mod.ts";
import type { NodeEvent } from "../../src/node_types.ts";
import { makeProfile, makeRecord, NODE_IDS } from "./helpers.ts";

Deno.test("store node: emits events only for rows another connection adds after it opened", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-explorer-standalone-" });
  const writer = openStores(dir);
  const reader = openStores(dir);
  try {
    const old = makeRecord();
    writer.graph.insert(old);
    const node = new StoreNode(reader, NODE_IDS[0]!);
    const seen: NodeEvent[] = [];
    const off = node.events.on((e) => seen.push(e));

    node.poll();
    assert.deepEqual(seen, [], "rows present at start are not news");

    const rec = makeRecord({ parent: old, key: 1 });
    writer.graph.insert(rec);
    const profile = makeProfile(1, "Alice");
    writer.profiles.upsert(profile);
    const verification = {
      event_id: `verification:${rec.id}:${NODE_IDS[2]}`,
      experiment_id: rec.id,
      verified_node_id: NODE_IDS[1],
      verifier_id: NODE_IDS[2],
      verifier_gpu: "H100",
      verifier_bpb: 1.0,
      is_frontier: true,
    };
    writer.control.append("verification", verification);
    node.poll();
    assert.deepEqual(seen, [
      { kind: "experiment", record: rec, source: "peer" },
      { kind: "profile", profile },
      { kind: "control", event: { type: "verification", payload: verification } },
    ]);

    node.poll();
    assert.equal(seen.length, 3, "each row is reported once");
    off();
    assert.deepEqual(node.peers(), []);
    assert.equal(await node.fetchArtifact("a".repeat(64)), undefined);
  } finally {
    reader.close();
    writer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store node: publish stores locally and reports the record; watch polls on a timer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-explorer-standalone-" });
  const stores = openStores(dir);
  const node = new StoreNode(stores, "");
  try {
    const seen: NodeEvent[] = [];
    node.events.on((e) => seen.push(e));
    const code = new TextEncoder().encode("print(1)\n");
    const rec = makeRecord();
    await node.publish(rec, code);
    assert.equal(stores.graph.has(rec.id), true);
    assert.deepEqual(seen.map((e) => e.kind), ["experiment"]);

    node.watch(10);
    const second = makeRecord();
    stores.graph.insert(second);
    const deadline = Date.now() + 2000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(seen.length, 2);
    assert.equal((seen[1] as { record: { id: string } }).record.id, second.id);
  } finally {
    node.unwatch();
    stores.close();
    await Deno.remove(dir, { recursive: true });
  }
});
