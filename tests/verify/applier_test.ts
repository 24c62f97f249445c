import assert from "node:assert/strict";
import { join } from "node:path";
import type { ControlEvent, ExperimentRecord, KeyPair } from "../../src/protocol/mod.ts";
import { openStores, type Stores } from "../../src/store/mod.ts";
import { EventApplier, resolveDispute, VerifyDb, verifyDbPath } from "../../src/verify/mod.ts";
import { key, makeRecord, signAs } from "./helpers.ts";
import { take } from "../tuple.ts";

const pub = key(0);
const checker = key(1);
const v1 = key(2);
const v2 = key(3);
const other = key(4);

interface Harness {
  dir: string;
  stores: Stores;
  db: VerifyDb;
  applier: EventApplier;
  close(): void;
}

function open(dir: string, acceptUnsigned = false): Harness {
  const stores = openStores(dir);
  const db = VerifyDb.open(verifyDbPath(dir));
  const applier = new EventApplier({
    db,
    reputation: stores.reputation,
    graph: stores.graph,
    control: stores.control,
    acceptUnsigned,
  });
  return {
    dir,
    stores,
    db,
    applier,
    close() {
      db.close();
      stores.close();
    },
  };
}

async function withHarness(fn: (h: Harness) => Promise<void>, acceptUnsigned = false) {
  const dir = await Deno.makeTempDir({ prefix: "spore-verify-applier-" });
  const h = open(dir, acceptUnsigned);
  try {
    await fn(h);
  } finally {
    h.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function verification(rec: ExperimentRecord, by: KeyPair, isFrontier: boolean): ControlEvent {
  return signAs({
    type: "verification",
    payload: {
      event_id: `verification:${rec.id}:${by.nodeId}`,
      experiment_id: rec.id,
      verified_node_id: rec.node_id,
      verifier_id: by.nodeId,
      verifier_gpu: "H100",
      verifier_bpb: rec.val_bpb + 0.0005,
      is_frontier: isFrontier,
    },
  }, by);
}

function challenge(rec: ExperimentRecord, by: KeyPair, bpb: number): ControlEvent {
  return signAs({
    type: "challenge",
    payload: {
      event_id: `challenge:${rec.id}:${by.nodeId}`,
      experiment_id: rec.id,
      challenger_id: by.nodeId,
      challenger_bpb: bpb,
      challenger_gpu: "H100",
    },
  }, by);
}

function response(
  rec: ExperimentRecord,
  challenger: KeyPair,
  by: KeyPair,
  bpb: number,
): ControlEvent {
  return signAs({
    type: "challenge_response",
    payload: {
      event_id: `challenge_response:${rec.id}:${challenger.nodeId}:${by.nodeId}`,
      experiment_id: rec.id,
      challenger_id: challenger.nodeId,
      verifier_id: by.nodeId,
      verifier_bpb: bpb,
      verifier_gpu: "H100",
    },
  }, by);
}

function dispute(
  rec: ExperimentRecord,
  challenger: KeyPair,
  challengerBpb: number,
  verifiers: { key: KeyPair; bpb: number }[],
): ControlEvent {
  const r = resolveDispute(rec.val_bpb, challengerBpb, verifiers.map((v) => v.bpb), "H100");
  return signAs({
    type: "dispute",
    payload: {
      event_id: `dispute:${rec.id}:${challenger.nodeId}`,
      experiment_id: rec.id,
      original_node_id: rec.node_id,
      challenger_id: challenger.nodeId,
      challenger_bpb: challengerBpb,
      outcome: r.outcome,
      ground_truth_bpb: r.groundTruthBpb,
      verifier_count: r.verifierCount,
      verifier_ids: verifiers.map((v) => v.key.nodeId),
    },
  }, challenger);
}

/** A dishonest record and the full signed evidence that rejects it. */
function rejectedCase() {
  const rec = makeRecord(pub, { claimOffset: -0.05 });
  const truth = rec.record.val_bpb + 0.05;
  const verifiers = [{ key: v1, bpb: truth }, { key: v2, bpb: truth + 0.0003 }];
  const events = [
    challenge(rec.record, checker, truth),
    ...verifiers.map((v) => response(rec.record, checker, v.key, v.bpb)),
    dispute(rec.record, checker, truth, verifiers),
  ];
  return { record: rec.record, truth, events };
}

/** Give each key a stored H100 record, so this node can place it as a verifier. */
function place(h: Harness, ...keys: KeyPair[]): void {
  for (const k of keys) h.stores.graph.insert(makeRecord(k, { status: "discard" }).record);
}

function scores(h: Harness, ids: string[] = [pub, checker, v1, v2, other].map((k) => k.nodeId)) {
  return ids.map((id) => h.stores.reputation.get(id));
}

Deno.test("a signed verification applies its exact deltas once, however often it arrives", async () => {
  await withHarness(async (h) => {
    const { record } = makeRecord(pub);
    h.stores.graph.insert(record);
    h.applier.onRecord(record);
    place(h, checker);
    const ev = verification(record, checker, true);
    const first = await h.applier.handle(ev);
    assert.equal(first.status, "held");
    assert.ok(first.status === "held" && first.state === "applied" && first.applied.length === 1);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await h.applier.handle(structuredClone(ev)), {
        status: "duplicate",
        state: "applied",
      });
    }
    const [p, c] = take(scores(h), 2);
    assert.equal(p.score, 2.0);
    assert.equal(p.experiments_verified, 1);
    assert.equal(c.score, 0.5);
    assert.equal(c.verifications_performed, 1);
    assert.ok(h.stores.graph.isVerified(record.id));
    assert.ok(h.stores.control.has("verification", ev.payload.event_id));
  });
});

Deno.test("an event held before its record applies when the record arrives after a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-verify-applier-" });
  try {
    const { record } = makeRecord(pub);
    const ev = verification(record, checker, true);
    let h = open(dir);
    const first = await h.applier.handle(ev);
    assert.ok(first.status === "held" && first.state === "pending");
    // An unrelated record finds nothing waiting and must not disturb the held event.
    const unrelated = makeRecord(other).record;
    h.stores.graph.insert(unrelated);
    assert.deepEqual(h.applier.onRecord(unrelated), []);
    h.close();
    h = open(dir);
    try {
      h.stores.graph.insert(record);
      const applied = h.applier.onRecord(record);
      assert.deepEqual(applied.map((e) => e.payload.event_id), [ev.payload.event_id]);
      assert.equal(h.applier.held("verification", ev.payload.event_id)?.state, "applied");
      assert.deepEqual(h.applier.onRecord(record), [], "applied once");
      assert.equal(scores(h)[0]!.experiments_verified, 1);
    } finally {
      h.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unsigned, wrongly signed, tampered and mis-numbered events change nothing", async () => {
  await withHarness(async (h) => {
    const { record } = makeRecord(pub);
    h.stores.graph.insert(record);
    const good = verification(record, checker, false);
    const { signer: _s, sig: _g, ...bare } = good.payload;
    const unsigned = { type: "verification", payload: bare } as ControlEvent;
    const wrongKey = signAs({ type: "verification", payload: bare } as ControlEvent, other);
    const tampered = { type: "verification", payload: { ...good.payload, verifier_bpb: 0.1 } };
    const misnumbered = signAs(
      { type: "verification", payload: { ...bare, event_id: "verification:x" } } as ControlEvent,
      checker,
    );
    const results = [];
    for (const e of [unsigned, wrongKey, tampered, misnumbered]) {
      results.push(await h.applier.handle(e));
    }
    assert.deepEqual(results.map((r) => r.status === "ignored" && r.reason), [
      "authentication: unsigned",
      "authentication: wrong_signer",
      "authentication: bad_signature",
      "authentication: bad_event_id",
    ]);
    assert.deepEqual(scores(h).map((r) => r.score), [0, 0, 0, 0, 0]);
    assert.equal(h.stores.control.maxSeq(), 0);
    // The genuine event still applies after the forgeries used its id.
    const r = await h.applier.handle(good);
    assert.ok(r.status === "held" && r.state === "applied");
    // On this node's frontier, whatever the event's is_frontier says.
    assert.equal(h.stores.reputation.get(pub.nodeId).score, 2.0);
  });
});

Deno.test("the legacy switch applies unsigned events but never wrongly signed ones", async () => {
  await withHarness(async (h) => {
    const { record } = makeRecord(pub);
    h.stores.graph.insert(record);
    const good = verification(record, checker, false);
    const { signer: _s, sig: _g, ...bare } = good.payload;
    const wrongKey = signAs({ type: "verification", payload: bare } as ControlEvent, other);
    assert.equal((await h.applier.handle(wrongKey)).status, "ignored");
    const r = await h.applier.handle({ type: "verification", payload: bare });
    assert.ok(r.status === "held" && r.state === "applied");
    assert.equal(h.stores.reputation.get(pub.nodeId).score, 2.0);
  }, true);
});

Deno.test("malformed and oversized input is ignored without throwing", async () => {
  await withHarness(async (h) => {
    const { record } = makeRecord(pub);
    const big = verification(record, checker, false);
    (big.payload as Record<string, unknown>).padding = "x".repeat(20_000);
    const inputs: unknown[] = [
      null,
      { type: "bogus", payload: {} },
      { type: "dispute", payload: null },
      { type: "challenge", payload: { event_id: 5 } },
      {
        type: "dispute",
        payload: {
          ...dispute(record, checker, 1, [{ key: v1, bpb: 1 }]).payload,
          outcome: "maybe",
        },
      },
      big,
    ];
    for (const raw of inputs) {
      const r = await h.applier.handle(raw as { type: unknown; payload: unknown });
      assert.equal(r.status, "ignored");
    }
  });
});

Deno.test("a node cannot verify or challenge its own experiment, nor answer its own challenge", async () => {
  await withHarness(async (h) => {
    const { record } = makeRecord(pub, { claimOffset: -0.05 });
    h.stores.graph.insert(record);
    const selfVerify = verification(record, pub, false);
    const selfChallenge = challenge(record, pub, record.val_bpb + 0.05);
    const ch = challenge(record, checker, record.val_bpb + 0.05);
    const answerOwn = response(record, checker, checker, record.val_bpb + 0.05);
    const publisherAnswers = response(record, checker, pub, record.val_bpb);
    const states = [];
    for (const e of [selfVerify, selfChallenge, ch, answerOwn, publisherAnswers]) {
      const r = await h.applier.handle(e);
      states.push(r.status === "held" ? r.state : r.status);
    }
    assert.deepEqual(states, ["invalid", "invalid", "applied", "invalid", "invalid"]);
    assert.deepEqual(scores(h).map((r) => r.score), [0, 0, 0, 0, 0]);
  });
});

Deno.test("the full dispute evidence converges to the same ledger in any arrival order", async () => {
  const c = rejectedCase();
  const verify = verification(makeRecord(pub).record, v1, false); // unrelated: stays pending
  const items: ("record" | ControlEvent)[] = ["record", ...c.events, verify];
  // Every rotation and its reverse: records first, last and in between, disputes before evidence.
  const orders: typeof items[] = [];
  for (let i = 0; i < items.length; i++) {
    const rot = [...items.slice(i), ...items.slice(0, i)];
    orders.push(rot, [...rot].reverse());
  }
  const ledgers: unknown[] = [];
  for (const order of orders) {
    await withHarness(async (h) => {
      place(h, v1, v2);
      for (const item of order) {
        if (item === "record") {
          h.stores.graph.insert(c.record);
          h.applier.onRecord(c.record);
        } else {
          await h.applier.handle(item);
        }
      }
      ledgers.push(scores(h));
      assert.equal(h.applier.held("dispute", c.events[3]!.payload.event_id)?.state, "applied");
      assert.equal(h.applier.held("verification", verify.payload.event_id)?.state, "pending");
    });
  }
  const [p, ch, a, b] = take(ledgers[0] as ReturnType<typeof scores>, 4);
  assert.deepEqual([p.score, p.disputes_lost], [-5.0, 1]);
  assert.deepEqual([ch.score, ch.disputes_won], [1.0, 1]);
  assert.deepEqual([a.score, b.score], [0.5, 0.5]);
  for (const l of ledgers) assert.deepEqual(l, ledgers[0]);
});

Deno.test("a dispute contradicting the signed evidence is refused", async () => {
  await withHarness(async (h) => {
    const c = rejectedCase();
    h.stores.graph.insert(c.record);
    for (const e of c.events.slice(0, 3)) await h.applier.handle(e);
    const lie = signAs({
      type: "dispute",
      payload: { ...c.events[3]!.payload, outcome: "upheld" },
    } as ControlEvent, checker);
    const r = await h.applier.handle(lie);
    assert.ok(r.status === "held" && r.state === "invalid");
    assert.equal(h.stores.reputation.get(pub.nodeId).score, 0);
    assert.equal(h.stores.reputation.get(checker.nodeId).score, 0);
  });
});

Deno.test("several challengers rejecting one experiment cost the publisher -5.0 once", async () => {
  await withHarness(async (h) => {
    const c = rejectedCase();
    h.stores.graph.insert(c.record);
    place(h, v1, v2, other);
    for (const e of c.events) await h.applier.handle(e);
    // A second challenger (v1) with its own challenge, answered by v2 and other.
    const second = [{ key: v2, bpb: c.truth }, { key: other, bpb: c.truth }];
    for (
      const e of [
        challenge(c.record, v1, c.truth),
        ...second.map((v) => response(c.record, v1, v.key, v.bpb)),
        dispute(c.record, v1, c.truth, second),
      ]
    ) await h.applier.handle(e);
    const [p, ch, a] = take(scores(h), 3);
    assert.deepEqual([p.score, p.disputes_lost], [-5.0, 1]);
    assert.equal(ch.score, 1.0);
    assert.equal(a.score, 0.5 + 1.0); // answered the first challenge, won its own dispute
  });
});

Deno.test("replay from the control log rebuilds the same ledger and skips forged copies", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-verify-replay-" });
  try {
    const c = rejectedCase();
    let h = open(dir);
    h.stores.graph.insert(c.record);
    place(h, v1, v2);
    // A forged dispute reaches the control log first (e.g. written by sync); the real one later.
    const forged = { type: "dispute", payload: { ...c.events[3]!.payload, outcome: "upheld" } };
    h.stores.control.append("dispute", forged.payload);
    await h.applier.replayControlLog();
    for (const e of c.events) await h.applier.handle(e);
    const before = scores(h);
    assert.equal(before[0]!.score, -5.0);
    h.close();
    // Lose the ledger and the evidence; keep the graph and the control log.
    await Deno.remove(join(dir, "db", "reputation.sqlite"));
    await Deno.remove(verifyDbPath(dir));
    h = open(dir);
    try {
      const applied = await h.applier.replayControlLog();
      // The log kept the forged dispute under the real id, so the dispute is not replayable
      // from this log; everything else is.
      assert.deepEqual(applied.map((e) => e.type), [
        "challenge",
        "challenge_response",
        "challenge_response",
      ]);
      assert.deepEqual(scores(h).map((r) => r.score), [0, 0, 0.5, 0.5, 0]);
      // The genuine dispute arriving again (sync from a peer) completes the ledger.
      await h.applier.handle(c.events[3]!);
      assert.deepEqual(scores(h), before);
      // A second replay finds nothing new.
      assert.deepEqual(await h.applier.replayControlLog(), []);
    } finally {
      h.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the class index counts independent same-class nodes from the graph and events", async () => {
  await withHarness(async (h) => {
    for (const k of [pub, checker, v1]) h.stores.graph.insert(makeRecord(k).record);
    h.stores.graph.insert(makeRecord(v2, { gpu: "A100" }).record);
    h.applier.syncClassIndex();
    assert.equal(h.db.countNodesInClass("H100", [checker.nodeId, pub.nodeId]), 1);
    assert.equal(h.db.countNodesInClass("A100", [checker.nodeId, pub.nodeId]), 1);
    // A verifier that never publishes shows its class through an accepted event.
    const { record } = makeRecord(pub);
    h.stores.graph.insert(record);
    await h.applier.handle(verification(record, other, false));
    assert.equal(h.db.countNodesInClass("H100", [checker.nodeId, pub.nodeId]), 2);
  });
});

Deno.test("Sybil verifications: 30 fresh keys verifying one record credit its publisher once", async () => {
  await withHarness(async (h) => {
    // A keep record with a better keep child: not on the frontier, whatever events claim.
    const { record, code } = makeRecord(pub);
    const sameCode = new TextDecoder().decode(code);
    const child =
      makeRecord(other, { parent: record.id, code: sameCode, claimOffset: -0.01 }).record;
    h.stores.graph.insert(record);
    h.stores.graph.insert(child);
    const sybils = Array.from({ length: 30 }, (_, i) => key(100 + i));
    for (const s of sybils) {
      const r = await h.applier.handle(verification(record, s, true));
      assert.ok(r.status === "held" && r.state === "applied", "each one is a valid verification");
    }
    const p = h.stores.reputation.get(pub.nodeId);
    assert.equal(p.score, 1.0, "one verified keep, not frontier: +1.0 once");
    assert.equal(p.experiments_verified, 1);
    // Keys this node cannot place (never seen publishing) earn nothing for their rerun.
    for (const s of sybils) assert.equal(h.stores.reputation.get(s.nodeId).score, 0);
    // A verifier seen publishing a same-class record earns its +0.5; the publisher nothing more.
    place(h, checker);
    await h.applier.handle(verification(record, checker, true));
    assert.equal(h.stores.reputation.get(checker.nodeId).score, 0.5);
    assert.equal(h.stores.reputation.get(pub.nodeId).score, 1.0);
    // One publishing only on another GPU class is not placed.
    h.stores.graph.insert(makeRecord(v2, { gpu: "A100" }).record);
    await h.applier.handle(verification(record, v2, false));
    assert.equal(h.stores.reputation.get(v2.nodeId).score, 0);
  });
});

Deno.test("is_frontier is decided from this node's graph, not the event's claim", async () => {
  await withHarness(async (h) => {
    const { record } = makeRecord(pub);
    h.stores.graph.insert(record);
    // The record is on our frontier; the verifier claims it is not: the publisher still gets 2.0.
    await h.applier.handle(verification(record, checker, false));
    assert.equal(h.stores.reputation.get(pub.nodeId).score, 2.0);
  });
});
