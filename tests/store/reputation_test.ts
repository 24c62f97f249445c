import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { ReputationStore, StoreError } from "../../src/store/mod.ts";
import { withTempDir } from "./helpers.ts";

const A = "a".repeat(64);
const B = "b".repeat(64);

Deno.test("reputation: unknown nodes read as zeros", async () => {
  await withTempDir((dir) => {
    const r = ReputationStore.open(join(dir, "reputation.sqlite"));
    assert.deepEqual(r.get(A), {
      node_id: A,
      score: 0,
      experiments_published: 0,
      experiments_verified: 0,
      verifications_performed: 0,
      disputes_won: 0,
      disputes_lost: 0,
    });
    assert.deepEqual(r.leaderboard(10), []);
    r.close();
  });
});

Deno.test("reputation: each event id applies once, atomically over all deltas", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "reputation.sqlite");
    let r = ReputationStore.open(path);
    const deltas = [
      { nodeId: A, score: 2, experiments_verified: 1 },
      { nodeId: B, score: 0.5, verifications_performed: 1 },
    ];
    assert.equal(r.applyEvent("verification:x:b", "verification", deltas), true);
    assert.equal(r.applyEvent("verification:x:b", "verification", deltas), false);
    assert.equal(r.hasEvent("verification:x:b"), true);
    assert.equal(r.hasEvent("verification:y:b"), false);
    assert.equal(r.get(A).score, 2);
    assert.equal(r.get(A).experiments_verified, 1);
    assert.equal(r.get(B).score, 0.5);
    assert.equal(r.get(B).verifications_performed, 1);
    r.close();
    r = ReputationStore.open(path);
    assert.equal(r.applyEvent("verification:x:b", "verification", deltas), false);
    assert.equal(r.get(A).score, 2);
    r.close();
  });
});

Deno.test("reputation: a malformed delta changes nothing and does not burn the event id", async () => {
  await withTempDir((dir) => {
    const r = ReputationStore.open(join(dir, "reputation.sqlite"));
    assert.throws(
      () => r.applyEvent("e1", "dispute", [{ nodeId: A, score: 1 }, { nodeId: B, score: NaN }]),
      StoreError,
    );
    assert.throws(() => r.applyEvent("e1", "dispute", [{ nodeId: "", score: 1 }]), StoreError);
    assert.throws(
      () => r.applyEvent("e1", "dispute", [{ nodeId: A, disputes_won: 0.5 }]),
      StoreError,
    );
    assert.throws(() => r.applyEvent("", "dispute", []), StoreError);
    assert.equal(r.hasEvent("e1"), false);
    assert.equal(r.get(A).score, 0);
    assert.equal(r.applyEvent("e1", "dispute", [{ nodeId: A, score: 1, disputes_won: 1 }]), true);
    assert.equal(r.get(A).disputes_won, 1);
    r.close();
  });
});

Deno.test("reputation: score is clamped to [-100, 100]", async () => {
  await withTempDir((dir) => {
    const r = ReputationStore.open(join(dir, "reputation.sqlite"));
    for (let i = 0; i < 60; i++) r.applyEvent(`up${i}`, "verification", [{ nodeId: A, score: 2 }]);
    assert.equal(r.get(A).score, 100);
    r.applyEvent("down", "dispute", [{ nodeId: A, score: -5, disputes_lost: 1 }]);
    assert.equal(r.get(A).score, 95);
    for (let i = 0; i < 50; i++) r.applyEvent(`d${i}`, "dispute", [{ nodeId: B, score: -5 }]);
    assert.equal(r.get(B).score, -100);
    assert.equal(r.get(A).disputes_lost, 1);
    r.close();
  });
});

Deno.test("reputation: publishes count once per experiment; leaderboard by score", async () => {
  await withTempDir((dir) => {
    const r = ReputationStore.open(join(dir, "reputation.sqlite"));
    assert.equal(r.recordPublish(A, "e1"), true);
    assert.equal(r.recordPublish(A, "e1"), false);
    assert.equal(r.recordPublish(A, "e2"), true);
    assert.equal(r.get(A).experiments_published, 2);
    assert.equal(r.get(A).score, 0);
    r.applyEvent("v", "verification", [{ nodeId: B, score: 1 }]);
    const C = "c".repeat(64);
    r.applyEvent("w", "dispute", [{ nodeId: C, score: -5 }]);
    assert.deepEqual(r.leaderboard(10).map((x) => x.node_id), [B, A, C]);
    assert.deepEqual(r.leaderboard(1, 1).map((x) => x.node_id), [A]);
    r.close();
  });
});

Deno.test("reputation: a Python-written ledger opens unchanged", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "reputation.sqlite");
    const db = new DatabaseSync(path);
    db.exec(`CREATE TABLE reputation (node_id TEXT PRIMARY KEY, score REAL,
      experiments_published INTEGER, experiments_verified INTEGER, verifications_performed INTEGER,
      disputes_won INTEGER, disputes_lost INTEGER)`);
    db.exec("CREATE TABLE reputation_event (event_id TEXT PRIMARY KEY, kind TEXT)");
    db.prepare("INSERT INTO reputation VALUES (?, 3.5, 4, 1, 2, 0, 0)").run(A);
    db.prepare("INSERT INTO reputation_event VALUES ('verification:e:v', 'verification')").run();
    db.close();
    const r = ReputationStore.open(path);
    assert.equal(r.get(A).score, 3.5);
    assert.equal(r.get(A).experiments_published, 4);
    assert.equal(
      r.applyEvent("verification:e:v", "verification", [{ nodeId: A, score: 1 }]),
      false,
    );
    assert.equal(r.applyEvent("verification:f:v", "verification", [{ nodeId: A, score: 1 }]), true);
    assert.equal(r.get(A).score, 4.5);
    r.close();
  });
});
