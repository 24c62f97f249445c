/**
 * The verifier's own events must reach the network's broadcast before they are in the shared
 * control log: the real network relays a control event only when it logs it first.
 */
import assert from "node:assert/strict";
import type { ControlEvent } from "../../src/protocol/mod.ts";
import { openStores } from "../../src/store/mod.ts";
import { Verifier } from "../../src/verify/mod.ts";
import { FakeTrainer, key, makeRecord } from "./helpers.ts";

Deno.test("an own verification is broadcast while not yet logged, and logged once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-verify-emit-" });
  const stores = openStores(dir);
  const relayed: ControlEvent[] = [];
  const rec = makeRecord(key(0));
  const verifier = Verifier.open(dir, {
    nodeId: key(1).nodeId,
    seed: key(1).seed,
    graph: stores.graph,
    reputation: stores.reputation,
    control: stores.control,
    trainer: new FakeTrainer(),
    fetchCode: () => Promise.resolve(rec.code),
    // As the network does: log first, relay only what was newly logged.
    broadcast: (event) => {
      if (stores.control.append(event.type, event.payload) !== null) relayed.push(event);
    },
    spotCheckRate: 1,
    random: () => 0,
  });
  try {
    await verifier.start();
    stores.graph.insert(rec.record);
    verifier.onRecord(rec.record, "peer");
    await verifier.idle();
    assert.deepEqual(relayed.map((e) => e.type), ["verification"]);
    assert.equal(relayed[0]!.payload.experiment_id, rec.record.id);
    const logged = stores.control.afterSeq(0, 100);
    assert.deepEqual(logged.map((e) => e.type), ["verification"]);
  } finally {
    await verifier.close();
    stores.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an own event is still logged for sync when the broadcast fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-verify-emit-" });
  const stores = openStores(dir);
  const rec = makeRecord(key(0));
  const verifier = Verifier.open(dir, {
    nodeId: key(1).nodeId,
    seed: key(1).seed,
    graph: stores.graph,
    reputation: stores.reputation,
    control: stores.control,
    trainer: new FakeTrainer(),
    fetchCode: () => Promise.resolve(rec.code),
    broadcast: () => Promise.reject(new Error("no peers")),
    spotCheckRate: 1,
    random: () => 0,
  });
  try {
    await verifier.start();
    stores.graph.insert(rec.record);
    verifier.onRecord(rec.record, "peer");
    await verifier.idle();
    assert.deepEqual(stores.control.afterSeq(0, 100).map((e) => e.type), ["verification"]);
    assert.equal(stores.reputation.get(key(1).nodeId).verifications_performed, 1);
  } finally {
    await verifier.close();
    stores.close();
    await Deno.remove(dir, { recursive: true });
  }
});
