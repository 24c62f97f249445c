import assert from "node:assert/strict";
import { type ControlEvent, signControl } from "../../src/protocol/mod.ts";
import { judgeLive, LiveHub, toLiveMessage } from "../../src/explorer/live.ts";
import { LiveRuns } from "../../src/research/live_run.ts";
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

Deno.test("run messages: phase changes at once, progress at most every 250 ms, the latest last", async () => {
  await withNode(async (plain) => {
    const runs = new LiveRuns();
    const node = Object.assign(plain, { runs });
    const hub = new LiveHub(node);
    const sent: { phase: string; step: number | null }[] = [];
    hub.add({
      send: (text) => {
        const msg = JSON.parse(text);
        if (msg.type === "run") sent.push({ phase: msg.data.phase, step: msg.data.step });
      },
      close: () => {},
    });
    try {
      const run = runs.start({ kind: "baseline", label: "baseline", description: "baseline" });
      for (let step = 1; step <= 200; step++) {
        run.progress({
          phase: "training",
          elapsedSeconds: step,
          step,
          percent: step / 2,
          loss: 1,
        });
      }
      // Start and the first training update go out at once; the burst waits for the interval.
      assert.deepEqual(sent.slice(0, 2), [
        { phase: "starting", step: null },
        { phase: "training", step: 1 },
      ]);
      const deadline = Date.now() + 10_000;
      while (sent.at(-1)?.step !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(sent.at(-1), { phase: "training", step: 200 });
      // A few at most (the burst is synchronous; a very slow machine may cross an interval).
      assert.ok(sent.length < 20, `${sent.length} messages for a 200-line burst`);
    } finally {
      hub.close();
    }
  });
});
