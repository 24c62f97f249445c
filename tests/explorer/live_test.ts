import assert from "node:assert/strict";
import { type ControlEvent, signControl } from "../../src/protocol/mod.ts";
import { judgeLive, toLiveMessage } from "../../src/explorer/live.ts";
import { makeRecord, NODE_IDS, SEEDS, withNode } from "./helpers.ts";

Deno.test("live control events carry this node's judgement: forged refused, signed applied", async () => {
  await withNode(async (node) => {
    const rec = makeRecord({ key: 0, status: "keep", gpu_model: "CPU" });
    node.stores.graph.insert(rec);
    const verifier = 1;
    const verification: ControlEvent = {
      type: "verification",
      payload: {
        event_id: `verification:${rec.id}:${NODE_IDS[verifier]!}`,
        experiment_id: rec.id,
        verified_node_id: rec.node_id,
        verifier_id: NODE_IDS[verifier]!,
        verifier_gpu: "CPU",
        verifier_bpb: rec.val_bpb,
        is_frontier: true,
      },
    };
    const signed = signControl(verification, SEEDS[verifier]!, NODE_IDS[verifier]!);
    assert.equal(await judgeLive(signed, node.stores), "applied");
    assert.equal(await judgeLive(verification, node.stores), "refused", "unsigned");
    const wrongKey = signControl(verification, SEEDS[2]!, NODE_IDS[2]!);
    assert.equal(await judgeLive(wrongKey, node.stores), "refused", "signed by someone else");
    const dispute: ControlEvent = {
      type: "dispute",
      payload: {
        event_id: `dispute:${rec.id}:${NODE_IDS[2]}`,
        experiment_id: rec.id,
        original_node_id: rec.node_id,
        challenger_id: NODE_IDS[2]!,
        challenger_bpb: rec.val_bpb + 1,
        outcome: "rejected",
        ground_truth_bpb: rec.val_bpb + 1,
        verifier_count: 3,
      },
    };
    const forged = signControl(dispute, SEEDS[2]!, NODE_IDS[2]!);
    assert.notEqual(await judgeLive(forged, node.stores), "applied", "no signed evidence backs it");
    const msg = await toLiveMessage(
      { kind: "control", event: forged },
      node.stores.profiles,
      node.stores,
    );
    assert.equal(msg.type, "dispute");
    assert.notEqual((msg.data as { state: string }).state, "applied");
  });
});
