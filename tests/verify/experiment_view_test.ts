/** The per-experiment verification view the explorer shows, judged from logged events. */
import assert from "node:assert/strict";
import type {
  ChallengePayload,
  ControlEvent,
  DisputePayload,
  ExperimentRecord,
} from "../../src/protocol/mod.ts";
import { experimentVerification } from "../../src/verify/mod.ts";
import { Bus, key, makeRecord, signAs, type TestNode } from "./helpers.ts";

function logged(node: TestNode, id: string): ControlEvent[] {
  return node.stores.control.byExperiment(id).map((e) =>
    ({ type: e.type, payload: e.payload }) as ControlEvent
  );
}

async function network(): Promise<{ bus: Bus; nodes: TestNode[] }> {
  const bus = await Bus.create();
  const nodes: TestNode[] = [];
  for (let i = 0; i < 5; i++) nodes.push(await bus.addNode(i, { spotCheckRate: i === 1 ? 1 : 0 }));
  for (let i = 0; i < 5; i++) bus.publish(makeRecord(key(i)), true);
  return { bus, nodes };
}

Deno.test("a rejected claim shows as rejected with every genuine event applied", async () => {
  const { bus, nodes } = await network();
  try {
    const cheat = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(cheat);
    await bus.settle();
    const events = logged(nodes[4]!, cheat.record.id);
    assert.deepEqual(events.map((e) => e.type).sort(), [
      "challenge",
      "challenge_response",
      "challenge_response",
      "challenge_response",
      "dispute",
    ]);
    // Order of arrival does not matter: the dispute first still judges the same.
    const v = experimentVerification(cheat.record, [...events].reverse());
    assert.deepEqual(v, {
      state: "rejected",
      verifications: 0,
      open_challenges: 0,
      event_state: events.map(() => "applied"),
    });
  } finally {
    await bus.close();
  }
});

Deno.test("a signed dispute contradicting its evidence is refused and decides nothing", async () => {
  const { bus, nodes } = await network();
  try {
    const honest = makeRecord(key(0));
    bus.publish(honest);
    await bus.settle();
    const r: ExperimentRecord = honest.record;
    const rogue = key(9);
    const challenge: ChallengePayload = {
      event_id: `challenge:${r.id}:${rogue.nodeId}`,
      experiment_id: r.id,
      challenger_id: rogue.nodeId,
      challenger_bpb: r.val_bpb + 0.05,
      challenger_gpu: "H100",
    };
    bus.broadcast(null, signAs({ type: "challenge", payload: challenge }, rogue));
    await bus.settle();
    const answers = logged(nodes[4]!, r.id).filter((e) => e.type === "challenge_response");
    assert.equal(answers.length, 4, "nodes 1-4 answer the rogue's challenge truthfully");
    const lie: DisputePayload = {
      event_id: `dispute:${r.id}:${rogue.nodeId}`,
      experiment_id: r.id,
      original_node_id: r.node_id,
      challenger_id: rogue.nodeId,
      challenger_bpb: challenge.challenger_bpb,
      outcome: "rejected",
      ground_truth_bpb: challenge.challenger_bpb,
      verifier_count: 1,
      verifier_ids: [answers[0]!.payload.verifier_id as string],
    };
    const events = [...logged(nodes[4]!, r.id), signAs({ type: "dispute", payload: lie }, rogue)];
    const v = experimentVerification(r, events);
    assert.equal(v.state, "challenged", "the rogue's challenge stays open: its dispute is refused");
    assert.equal(v.verifications, 1);
    assert.equal(v.event_state.at(-1), "refused");
    assert.deepEqual(v.event_state.slice(0, -1), events.slice(0, -1).map(() => "applied"));
    // The applier agrees: the same lie delivered to a node is refused there too.
    bus.broadcast(null, events.at(-1)!);
    await bus.settle();
    for (const n of nodes) assert.equal(n.stores.reputation.get(r.node_id).disputes_lost, 0);
  } finally {
    await bus.close();
  }
});

Deno.test("events about another experiment or of a bad shape are refused", () => {
  const { record } = makeRecord(key(0));
  const other = makeRecord(key(0)).record;
  const v = experimentVerification(record, [
    { type: "verification", payload: { event_id: "x" } },
    {
      type: "verification",
      payload: {
        event_id: `verification:${other.id}:${key(1).nodeId}`,
        experiment_id: other.id,
        verified_node_id: other.node_id,
        verifier_id: key(1).nodeId,
        verifier_gpu: "H100",
        verifier_bpb: other.val_bpb,
        is_frontier: true,
      },
    },
    { type: "nonsense", payload: {} },
  ]);
  assert.deepEqual(v, {
    state: "unverified",
    verifications: 0,
    open_challenges: 0,
    event_state: ["refused", "refused", "refused"],
  });
});
