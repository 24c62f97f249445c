/**
 * Issue 7's must-show, with real processes: loopback networks of five `spore run` node processes
 * (verify-only and sync-only) around an in-test publisher hub. Verifiers rerun a deterministic
 * stand-in train.py (its val_bpb is a function of its own bytes) in the real sandboxed runtime;
 * reputations are read from every node's `db/reputation.sqlite`.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import {
  type ChallengePayload,
  type ControlEvent,
  type DisputePayload,
  envelope,
  type ExperimentRecord,
  signControl,
} from "../../src/protocol/mod.ts";
import { experimentVerification, readVerificationSummary } from "../../src/verify/mod.ts";
import { RawPeer } from "../net/helpers.ts";
import type { VerificationSummary } from "../../src/verify/mod.ts";
import {
  FULL_PERMISSIONS,
  type LedgerRow,
  missingPrerequisite,
  type NodeProc,
  type ProcSpec,
  rowOf,
  standinCode,
  testKey,
  VerifyNet,
  waitUntil,
} from "./fixtures/verify_net.ts";
import { take } from "../tuple.ts";

const missing = await missingPrerequisite();
if (missing) console.log(`verify_network_test skipped: ${missing}`);

/** Bound on any one wait for the network to converge. */
const CONVERGE_MS = 45_000;

function proc(
  name: string,
  mode: ProcSpec["mode"],
  spotCheckRate: number,
  historyGpu: ProcSpec["historyGpu"],
): ProcSpec {
  return { name, mode, spotCheckRate, historyGpu };
}

/** Per node id, `after - before` of each counter (absent rows count as zero). */
function deltas(before: Map<string, LedgerRow>, after: Map<string, LedgerRow>, ids: string[]) {
  return ids.map((id) => {
    const a = rowOf(after, id);
    const b = rowOf(before, id);
    return {
      score: Number((a.score - b.score).toFixed(6)),
      experiments_verified: a.experiments_verified - b.experiments_verified,
      verifications_performed: a.verifications_performed - b.verifications_performed,
      disputes_won: a.disputes_won - b.disputes_won,
      disputes_lost: a.disputes_lost - b.disputes_lost,
    };
  });
}

function delta(score: number, counters: Partial<Omit<LedgerRow, "score">> = {}) {
  return {
    score,
    experiments_verified: 0,
    verifications_performed: 0,
    disputes_won: 0,
    disputes_lost: 0,
    ...counters,
  };
}

/** The given ids' rows as every node holds them, for an all-nodes-agree check. */
function views(net: VerifyNet, ids: string[]): LedgerRow[][] {
  return net.ledgers().map((l) => ids.map((id) => rowOf(l, id)));
}

function verifiedOn(p: NodeProc, experimentId: string): boolean {
  const db = new DatabaseSync(join(p.dir, "db", "graph.sqlite"), { readOnly: true });
  try {
    const row = db.prepare("SELECT verified FROM experiment WHERE id = ?").get(experimentId) as
      | { verified: number }
      | undefined;
    return row?.verified === 1;
  } finally {
    db.close();
  }
}

/** The control events the hub relayed about one experiment. */
function hubEvents(net: VerifyNet, experimentId: string): { type: string; payload: unknown }[] {
  return net.hub.node.stores.control.afterSeq(0, 10_000)
    .filter((e) => e.payload.experiment_id === experimentId)
    .map((e) => ({ type: e.type, payload: e.payload }));
}

function disputeOf(net: VerifyNet, experimentId: string): DisputePayload | undefined {
  return hubEvents(net, experimentId).find((e) => e.type === "dispute")?.payload as
    | DisputePayload
    | undefined;
}

Deno.test({
  name: "five node processes: honest verified, cheater rejected by three, restart mid-challenge",
  ignore: missing !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const net = await VerifyNet.start("main", [
      proc("challenger", "verify-only", 1, "CPU"),
      proc("v1", "verify-only", 0, "CPU"),
      proc("v2", "verify-only", 0, "CPU"),
      // v3 runs with only the permissions --verify-only needs: it must still rerun and answer.
      { ...proc("v3", "verify-only", 0, "CPU"), narrow: true },
      proc("other", "no-train", 0, "NVIDIA A100-SXM4-80GB"),
    ], { challengeTimeoutS: 60 });
    const [challenger, v1, v2, v3] = take(net.procs, 4);
    const hubId = net.hub.keys.nodeId;
    const everyone = [hubId, ...net.procs.map((p) => p.id)];
    let honest: ExperimentRecord | undefined;
    try {
      await t.step("an honest publisher is verified: +2.0 (frontier keep) and +0.5", async () => {
        const before = net.ledgers();
        const code = await standinCode("honest");
        const rec = net.record(net.hub.keys, code, 0, 1_780_000_001);
        honest = rec;
        await net.publish(rec, code);
        await waitUntil(
          () => net.ledgers().every((l) => rowOf(l, hubId).experiments_verified === 1),
          "the verification on every node",
          CONVERGE_MS,
        ).catch(async (e) => assert.fail(`${e.message}\n${await net.dump()}`));
        const after = net.ledgers();
        for (let i = 0; i < net.procs.length; i++) {
          assert.deepEqual(deltas(before[i]!, after[i]!, everyone), [
            delta(2.0, { experiments_verified: 1 }),
            delta(0.5, { verifications_performed: 1 }),
            delta(0),
            delta(0),
            delta(0),
            delta(0),
          ], `ledger of ${net.procs[i]!.spec.name}`);
          assert.ok(verifiedOn(net.procs[i]!, rec.id), `${net.procs[i]!.spec.name} marks it`);
        }
        assert.deepEqual(hubEvents(net, rec.id).map((e) => e.type), ["verification"]);
      });

      await t.step(
        "a cheater is challenged, answered by three, rejected: -5.0 everywhere",
        async () => {
          const cheater = testKey("main-cheater");
          const before = net.ledgers();
          const code = await standinCode("cheat");
          const rec = net.record(cheater, code, -0.05, 1_780_000_002);
          await net.publish(rec, code);
          await waitUntil(
            () =>
              disputeOf(net, rec.id) !== undefined &&
              net.ledgers().every((l) => rowOf(l, cheater.nodeId).disputes_lost === 1),
            "the dispute on every node",
            CONVERGE_MS,
          ).catch(async (e) => assert.fail(`${e.message}\n${await net.dump()}`));
          const d = disputeOf(net, rec.id);
          assert.ok(d);
          assert.equal(d.outcome, "rejected");
          assert.equal(d.challenger_id, challenger.id);
          assert.equal(d.verifier_count, 3);
          assert.deepEqual(
            [...((d.verifier_ids as string[] | undefined) ?? [])].sort(),
            [v1.id, v2.id, v3.id].sort(),
          );
          const after = net.ledgers();
          for (let i = 0; i < net.procs.length; i++) {
            assert.deepEqual(deltas(before[i]!, after[i]!, [cheater.nodeId, ...everyone]), [
              delta(-5.0, { disputes_lost: 1 }),
              delta(0),
              delta(1.0, { disputes_won: 1 }),
              delta(0.5, { verifications_performed: 1 }),
              delta(0.5, { verifications_performed: 1 }),
              delta(0.5, { verifications_performed: 1 }),
              delta(0),
            ], `ledger of ${net.procs[i]!.spec.name}`);
            assert.equal(rowOf(after[i]!, cheater.nodeId).score, -5.0);
          }
          // `spore status --json` on a running node shows the outcome.
          const status = await statusJson(v3);
          assert.equal(status.verification.recent_disputes[0]!.experiment_id, rec.id);
          assert.equal(status.verification.recent_disputes[0]!.outcome, "rejected");
          assert.equal(status.verification.verified_experiments, 1);
          assert.deepEqual(status.verification.open_challenges, []);
        },
      );

      await t.step(
        "the challenger is killed mid-challenge and restarts: ledgers converge",
        async () => {
          const cheater = testKey("main-cheater-2");
          const before = net.ledgers();
          // A slow rerun keeps the challenge open while the verifiers work on it.
          const code = await standinCode("slow", 4);
          const rec = net.record(cheater, code, -0.05, 1_780_000_003);
          await net.publish(rec, code);
          await waitUntil(
            () => hubEvents(net, rec.id).some((e) => e.type === "challenge"),
            "the challenge",
            CONVERGE_MS,
          ).catch(async (e) => assert.fail(`${e.message}\n${await net.dump()}`));
          assert.ok(!disputeOf(net, rec.id), "still open when the challenger dies");
          await challenger.stop("SIGKILL");
          await challenger.start();
          await waitUntil(
            () =>
              disputeOf(net, rec.id) !== undefined &&
              net.ledgers().every((l) => rowOf(l, cheater.nodeId).disputes_lost === 1),
            "the dispute on every node after the restart",
            CONVERGE_MS,
          ).catch(async (e) => assert.fail(`${e.message}\n${await net.dump()}`));
          const d = disputeOf(net, rec.id);
          assert.deepEqual([d?.outcome, d?.verifier_count], ["rejected", 3]);
          const after = net.ledgers();
          for (let i = 0; i < net.procs.length; i++) {
            assert.deepEqual(deltas(before[i]!, after[i]!, [cheater.nodeId, challenger.id]), [
              delta(-5.0, { disputes_lost: 1 }),
              delta(1.0, { disputes_won: 1 }),
            ], `ledger of ${net.procs[i]!.spec.name}`);
          }
          const all = views(net, [testKey("main-cheater").nodeId, cheater.nodeId, ...everyone]);
          for (const v of all) assert.deepEqual(v, all[0], "every node holds the same ledger");
          assert.equal(hubEvents(net, rec.id).filter((e) => e.type === "dispute").length, 1);
        },
      );

      await t.step(
        "a rogue peer's forged, contradicting and replayed events change nothing",
        async () => {
          assert.ok(honest, "the honest step ran");
          const h = honest;
          const rogue = testKey("main-rogue");
          const before = net.ledgers();
          const refusedBefore = net.procs.map((p) => readVerificationSummary(p.dir).refused_events);
          const peer = await RawPeer.connect(v1.port);
          try {
            const send = (e: ControlEvent) => peer.sendJson(envelope(e.type, e.payload));
            const forged = (challengerId: string): DisputePayload => ({
              event_id: `dispute:${h.id}:${challengerId}`,
              experiment_id: h.id,
              original_node_id: h.node_id,
              challenger_id: challengerId,
              challenger_bpb: h.val_bpb + 0.05,
              outcome: "rejected",
              ground_truth_bpb: h.val_bpb + 0.05,
              verifier_count: 1,
              verifier_ids: [v1.id],
            });
            // 1. Unsigned, in the real challenger's name.
            await send({ type: "dispute", payload: forged(challenger.id) });
            // 2. Signed by the rogue's key, in the real challenger's name.
            await send(
              signControl(
                { type: "dispute", payload: forged(challenger.id) },
                rogue.seed,
                challenger.id,
              ),
            );
            // 3. The rogue's own signed challenge of the honest record: honest nodes answer it
            //    with their true reruns, so its "rejected" dispute contradicts the evidence.
            const challenge: ChallengePayload = {
              event_id: `challenge:${h.id}:${rogue.nodeId}`,
              experiment_id: h.id,
              challenger_id: rogue.nodeId,
              challenger_bpb: h.val_bpb + 0.05,
              challenger_gpu: "CPU",
            };
            await send(
              signControl({ type: "challenge", payload: challenge }, rogue.seed, rogue.nodeId),
            );
            const answered = [v1, v2, v3];
            await waitUntil(
              () =>
                net.ledgers().every((l) =>
                  [challenger, ...answered].every((v) =>
                    rowOf(l, v.id).verifications_performed ===
                      rowOf(before[0]!, v.id).verifications_performed + 1
                  )
                ),
              "honest answers to the rogue's challenge",
              CONVERGE_MS,
            ).catch(async (e) => assert.fail(`${e.message}\n${await net.dump()}`));
            const lie: DisputePayload = {
              ...forged(rogue.nodeId),
              verifier_count: 3,
              verifier_ids: answered.map((v) => v.id),
            };
            await send(signControl({ type: "dispute", payload: lie }, rogue.seed, rogue.nodeId));
            // 4. Replays of genuine events already applied everywhere.
            for (const e of net.hub.node.stores.control.afterSeq(0, 10_000)) {
              await send({ type: e.type, payload: e.payload } as ControlEvent);
            }
            await waitUntil(
              () =>
                net.procs.every((p, i) =>
                  readVerificationSummary(p.dir).refused_events > refusedBefore[i]!
                ),
              "every node to refuse the contradicting dispute",
              CONVERGE_MS,
            ).catch(async (e) => assert.fail(`${e.message}\n${await net.dump()}`));
            // Let stragglers (relayed forgeries, replays) arrive before checking nothing moved.
            await new Promise((r) => setTimeout(r, 1000));
          } finally {
            await peer.close();
          }
          const after = net.ledgers();
          const ids = [rogue.nodeId, ...everyone];
          for (let i = 0; i < net.procs.length; i++) {
            // Only the honest answers count (the challenger answers the rogue's challenge too).
            assert.deepEqual(deltas(before[i]!, after[i]!, ids), [
              delta(0),
              delta(0),
              delta(0.5, { verifications_performed: 1 }),
              delta(0.5, { verifications_performed: 1 }),
              delta(0.5, { verifications_performed: 1 }),
              delta(0.5, { verifications_performed: 1 }),
              delta(0),
            ], `ledger of ${net.procs[i]!.spec.name}`);
          }
          const logged = net.hub.node.stores.control.afterSeq(0, 10_000)
            .filter((e) => e.type === "dispute" && e.payload.experiment_id === h.id);
          assert.deepEqual(
            logged.map((e) => e.payload.challenger_id),
            [rogue.nodeId],
            "only the signed lie is logged (relayed, then refused); the forgeries are not",
          );
          // The explorer's view of the honest record never takes the lie for its outcome.
          const view = experimentVerification(h, net.hub.node.stores.control.byExperiment(h.id));
          assert.notEqual(view.state, "rejected");
          assert.equal(view.verifications, 1);
          const types = net.hub.node.stores.control.byExperiment(h.id).map((e) => e.type);
          assert.equal(view.event_state[types.lastIndexOf("dispute")], "refused");
        },
      );
    } finally {
      await net.close();
    }
  },
});

Deno.test({
  name: "five node processes: no independent verifier, no challenge; one, and one is enough",
  ignore: missing !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const net = await VerifyNet.start("few", [
      proc("challenger", "verify-only", 1, "CPU"),
      proc("v1", "verify-only", 0, "CPU"),
      proc("a1", "no-train", 0, "NVIDIA A100-SXM4-80GB"),
      proc("a2", "no-train", 0, "NVIDIA A100-SXM4-80GB"),
      proc("a3", "no-train", 0, "NVIDIA A100-SXM4-80GB"),
      // The hub is known as an A100 node, so the CPU class holds only the challenger and v1.
    ], { challengeTimeoutS: 120, hubHistoryGpu: "NVIDIA A100-SXM4-80GB" });
    const [challenger, v1] = take(net.procs, 2);
    const everyone = [net.hub.keys.nodeId, ...net.procs.map((p) => p.id)];
    try {
      await t.step(
        "the only other CPU node publishes a bad claim: nobody can check, no challenge",
        async () => {
          const before = net.ledgers();
          const code = await standinCode("none");
          // v1's own record: the challenger and the publisher are the only CPU nodes involved.
          const rec = net.record(v1.keys, code, -0.05, 1_780_000_011);
          await net.publish(rec, code);
          await waitForLog(challenger, `${rec.id.slice(0, 8)} is off by`)
            .catch(async (e) => assert.fail(`${e.message}\n${await net.dump()}`));
          // Give a wrongly sent challenge time to travel before checking it did not.
          await new Promise((r) => setTimeout(r, 1000));
          assert.deepEqual(hubEvents(net, rec.id), []);
          const after = net.ledgers();
          for (let i = 0; i < net.procs.length; i++) {
            assert.deepEqual(
              deltas(before[i]!, after[i]!, everyone),
              everyone.map(() => delta(0)),
              `ledger of ${net.procs[i]!.spec.name}`,
            );
          }
        },
      );

      await t.step(
        "with one other CPU node the challenge wants one answer and resolves",
        async () => {
          const cheater = testKey("few-cheater");
          const before = net.ledgers();
          const code = await standinCode("one");
          const rec = net.record(cheater, code, -0.05, 1_780_000_012);
          const t0 = Date.now();
          await net.publish(rec, code);
          await waitUntil(
            () =>
              disputeOf(net, rec.id) !== undefined &&
              net.ledgers().every((l) => rowOf(l, cheater.nodeId).disputes_lost === 1),
            "the dispute on every node",
            CONVERGE_MS,
          ).catch(async (e) => assert.fail(`${e.message}\n${await net.dump()}`));
          assert.ok(Date.now() - t0 < 120_000, "resolved by the answer, not the 120 s timeout");
          const d = disputeOf(net, rec.id);
          assert.deepEqual(
            [d?.outcome, d?.verifier_count, d?.verifier_ids],
            ["rejected", 1, [v1.id]],
          );
          const after = net.ledgers();
          for (let i = 0; i < net.procs.length; i++) {
            assert.deepEqual(deltas(before[i]!, after[i]!, [cheater.nodeId, ...everyone]), [
              delta(-5.0, { disputes_lost: 1 }),
              delta(0),
              delta(1.0, { disputes_won: 1 }),
              delta(0.5, { verifications_performed: 1 }),
              delta(0),
              delta(0),
              delta(0),
            ], `ledger of ${net.procs[i]!.spec.name}`);
          }
        },
      );
    } finally {
      await net.close();
    }
  },
});

/** `spore status --json` of a node's data dir, run while the node runs. */
async function statusJson(p: NodeProc): Promise<{ verification: VerificationSummary }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FULL_PERMISSIONS, "main.ts", "status", "--json", "--data-dir", p.dir],
    cwd: new URL("../../", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Wait until the node's log file holds `text` (the challenger's verdict is only logged). */
async function waitForLog(p: NodeProc, text: string): Promise<void> {
  const end = Date.now() + CONVERGE_MS;
  while (!(await p.logText()).includes(text)) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for "${text}" in ${p.spec.name}'s log`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
