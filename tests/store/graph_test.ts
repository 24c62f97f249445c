import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  canonicalRecord,
  type ExperimentRecord,
  normalizeGpuClass,
  recordId,
} from "../../src/protocol/mod.ts";
import { GraphStore, PYTHON_EXPERIMENT_DDL, StoreError } from "../../src/store/mod.ts";
import { vectors } from "../protocol/vectors.ts";
import {
  bruteFrontier,
  makeRecord,
  NODE_IDS,
  prng,
  shuffled,
  VECTOR_RECORDS,
  withTempDir,
} from "./helpers.ts";

const ids = (recs: ExperimentRecord[]) => recs.map((r) => r.id);

function assertExact(got: ExperimentRecord | undefined, want: ExperimentRecord): void {
  assert.ok(got, `record ${want.id} missing`);
  assert.equal(recordId(got), want.id);
  assert.equal(canonicalRecord(got), canonicalRecord(want));
  assert.equal(got.signature, want.signature);
  assert.ok(Object.is(got.val_bpb, want.val_bpb), `val_bpb of ${want.id}`);
  assert.ok(Object.is(got.peak_vram_mb, want.peak_vram_mb), `peak_vram_mb of ${want.id}`);
}

Deno.test("graph: every vector record comes back byte-exact, also after reopening", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "db", "graph.sqlite");
    let g = GraphStore.open(path);
    assert.equal(g.insertMany(VECTOR_RECORDS), VECTOR_RECORDS.length);
    const canonicalById = new Map(vectors.records.map((v) => [v.cid, v.canonical]));
    for (const want of VECTOR_RECORDS) {
      const got = g.get(want.id);
      assertExact(got, want);
      assert.equal(canonicalRecord(got!), canonicalById.get(want.id));
      assert.deepEqual(got, want);
    }
    g.close();
    g = GraphStore.open(path);
    for (const want of VECTOR_RECORDS) assertExact(g.get(want.id), want);
    // The same holds on every read path, not just get().
    for (const r of g.recent(100)) assert.equal(recordId(r), r.id);
    for (const { record } of g.afterSeq(0, 100)) assert.equal(recordId(record), record.id);
    g.close();
  });
});

Deno.test("graph: a record with a lone surrogate and -0.0 survives storage", async () => {
  await withTempDir((dir) => {
    const g = GraphStore.open(join(dir, "graph.sqlite"));
    const rec = makeRecord({ description: "half \ud800 pair\u0000end", val_bpb: -0 });
    assert.ok(g.insert(rec));
    assertExact(g.get(rec.id), rec);
    assert.equal(g.get(rec.id)!.description, "half \ud800 pair\u0000end");
    g.close();
  });
});

Deno.test("graph: insert is idempotent and seq only advances for new records", async () => {
  await withTempDir((dir) => {
    const g = GraphStore.open(join(dir, "graph.sqlite"));
    const [a, b, c] = [makeRecord(), makeRecord(), makeRecord()];
    assert.equal(g.insert(a), true);
    assert.equal(g.insert(a), false);
    assert.equal(g.insertMany([a, b, b, c]), 2);
    assert.equal(g.insertMany([]), 0);
    assert.equal(g.count(), 3);
    assert.equal(g.maxSeq(), 3);
    assert.deepEqual(g.afterSeq(0, 10).map((x) => [x.seq, x.record.id]), [
      [1, a.id],
      [2, b.id],
      [3, c.id],
    ]);
    assert.deepEqual(g.afterSeq(2, 10).map((x) => x.record.id), [c.id]);
    assert.deepEqual(g.afterSeq(0, 1).map((x) => x.seq), [1]);
    g.close();
  });
});

Deno.test("graph: a malformed record is refused and nothing of its batch is stored", async () => {
  await withTempDir((dir) => {
    const g = GraphStore.open(join(dir, "graph.sqlite"));
    const good = makeRecord();
    const bad = { ...makeRecord(), status: "maybe" } as unknown as ExperimentRecord;
    const extra = { ...makeRecord(), extra: 1 } as unknown as ExperimentRecord;
    assert.throws(() => g.insert(bad), StoreError);
    assert.throws(() => g.insert(extra), StoreError);
    assert.throws(() => g.insert(null as unknown as ExperimentRecord), StoreError);
    assert.throws(() => g.insertMany([good, bad]), StoreError);
    assert.equal(g.count(), 0);
    g.close();
  });
});

Deno.test("graph: frontier flags stay right under random arrival order (vs brute force)", async () => {
  await withTempDir((dir) => {
    for (let seed = 1; seed <= 6; seed++) {
      const rand = prng(seed);
      const recs: ExperimentRecord[] = [];
      for (let i = 0; i < 120; i++) {
        const parent = recs.length > 0 && rand() < 0.85
          ? recs[Math.floor(rand() * recs.length)]!.id
          : null;
        const r = rand();
        recs.push(makeRecord({
          parent,
          status: r < 0.6 ? "keep" : r < 0.85 ? "discard" : "crash",
          // Few distinct values so equal val_bpb (not strictly lower) is exercised.
          val_bpb: Math.floor(rand() * 12) / 10,
          gpu_model: rand() < 0.5 ? "NVIDIA H100 80GB HBM3" : "RTX 3060",
          key: rand() < 0.5 ? 0 : 1,
        }));
      }
      const path = join(dir, `graph-${seed}.sqlite`);
      const g = GraphStore.open(path);
      const order = shuffled(recs, rand);
      // Mix single inserts and batches, as gossip and sync do.
      let i = 0;
      while (i < order.length) {
        const n = 1 + Math.floor(rand() * 20);
        if (n === 1) g.insert(order[i]!);
        else g.insertMany(order.slice(i, i + n));
        i += n;
        const stored = order.slice(0, Math.min(i, order.length));
        assert.deepEqual(ids(g.frontier()), bruteFrontier(stored), `seed ${seed} after ${i}`);
      }
      for (const cls of ["H100", "RTX_3060"]) {
        const want = bruteFrontier(recs).filter((id) =>
          normalizeGpuClass(recs.find((r) => r.id === id)!.gpu_model) === cls
        );
        assert.deepEqual(ids(g.frontier(cls)), want);
      }
      assert.equal(g.best()?.id, bruteFrontier(recs)[0]);
      g.close();
      const again = GraphStore.open(path);
      assert.deepEqual(ids(again.frontier()), bruteFrontier(recs));
      again.close();
    }
  });
});

Deno.test("graph: children, ancestors, best and stats", async () => {
  await withTempDir((dir) => {
    const g = GraphStore.open(join(dir, "graph.sqlite"));
    const root = makeRecord({ val_bpb: 1.0, key: 0 });
    const a = makeRecord({ parent: root.id, val_bpb: 0.9, key: 1 });
    const b = makeRecord({ parent: root.id, val_bpb: 1.1, status: "discard" });
    const aa = makeRecord({ parent: a.id, val_bpb: 0.95, gpu_model: "RTX 3060" });
    const orphan = makeRecord({ parent: "f".repeat(64), val_bpb: 0.5 });
    g.insertMany([aa, b, a, root, orphan]);
    assert.deepEqual(new Set(ids(g.children(root.id))), new Set([a.id, b.id]));
    assert.deepEqual(ids(g.children(aa.id)), []);
    assert.deepEqual(ids(g.ancestors(aa.id)), [a.id, root.id]);
    assert.deepEqual(ids(g.ancestors(orphan.id)), []);
    assert.deepEqual(ids(g.ancestors("nope")), []);
    assert.deepEqual(ids(g.roots(10)), [root.id, orphan.id]);
    assert.deepEqual(ids(g.roots(1)), [root.id]);
    // a stays: its only keep child (0.95) is not lower than it (0.9).
    assert.deepEqual(ids(g.frontier()), [orphan.id, a.id, aa.id]);
    assert.deepEqual(ids(g.frontier("NVIDIA RTX 3060")), [aa.id]);
    assert.equal(g.best("H100")?.id, orphan.id);
    assert.equal(g.best("A100"), undefined);
    assert.deepEqual(g.stats(), { count: 5, frontierSize: 3, bestValBpb: 0.5, nodes: 2 });
    g.close();
  });
});

Deno.test("graph: a parent that only shares the indexed prefix is not a parent", async () => {
  await withTempDir((dir) => {
    const g = GraphStore.open(join(dir, "graph.sqlite"));
    const x = makeRecord({ val_bpb: 1.0 });
    // Same first 16 hex digits as x.id (the parent index key), different id.
    const twin = x.id.slice(0, 16) + (x.id[16] === "0" ? "1" : "0") + x.id.slice(17);
    const near = makeRecord({ parent: twin, val_bpb: 0.5 });
    const child = makeRecord({ parent: x.id, val_bpb: 1.2, status: "discard" });
    g.insertMany([near, x, child]);
    assert.deepEqual(ids(g.children(x.id)), [child.id]);
    assert.deepEqual(ids(g.children(twin)), [near.id]);
    // near is lower than x but not its child: x stays on the frontier.
    assert.deepEqual(ids(g.frontier()), [near.id, x.id]);
    const better = makeRecord({ parent: x.id, val_bpb: 0.9 });
    g.insert(better);
    assert.deepEqual(ids(g.frontier()), [near.id, better.id]);
    g.close();
  });
});

Deno.test("graph: opening a file with the old full-key parent index replaces it", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "graph.sqlite");
    const root = makeRecord({ val_bpb: 1.0 });
    const kid = makeRecord({ parent: root.id, val_bpb: 0.9 });
    const first = GraphStore.open(path);
    first.insertMany([root, kid]);
    first.close();
    const db = new DatabaseSync(path);
    db.exec("DROP INDEX ix_ts_experiment_parent_key");
    db.exec("CREATE INDEX ix_ts_experiment_parent ON experiment(parent)");
    db.close();
    const g = GraphStore.open(path);
    assert.deepEqual(ids(g.children(root.id)), [kid.id]);
    g.close();
    const check = new DatabaseSync(path);
    const indexes = check.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_ts_experiment_parent%'",
    ).all().map((r) => r.name);
    const plan = check.prepare(
      "EXPLAIN QUERY PLAN SELECT id FROM experiment " +
        "WHERE substr(parent, 1, 16) = substr(?1, 1, 16) AND parent = ?1",
    ).all(root.id).map((r) => String(r.detail));
    check.close();
    assert.deepEqual(indexes, ["ix_ts_experiment_parent_key"]);
    assert.ok(plan.some((d) => d.includes("ix_ts_experiment_parent_key")), plan.join("; "));
  });
});

Deno.test("graph: recent, byNode, search (escaped wildcards), verified flag", async () => {
  await withTempDir((dir) => {
    const g = GraphStore.open(join(dir, "graph.sqlite"));
    const r1 = makeRecord({ timestamp: 100, description: "raise LR to 0.1", key: 0 });
    const r2 = makeRecord({ timestamp: 200, description: "100% warmup", key: 1 });
    const r3 = makeRecord({ timestamp: 300, hypothesis: "wider_mlp helps", gpu_model: "A100" });
    g.insertMany([r1, r2, r3]);
    assert.deepEqual(ids(g.recent(10)), [r3.id, r2.id, r1.id]);
    assert.deepEqual(ids(g.recent(1, 1)), [r2.id]);
    assert.deepEqual(ids(g.byNode(NODE_IDS[0]!, 10)), [r3.id, r1.id]);
    assert.deepEqual(ids(g.byNode(NODE_IDS[0]!, 10, 1)), [r1.id]);
    assert.deepEqual(ids(g.search("% warm", 10)), [r2.id]);
    assert.deepEqual(ids(g.search("%", 10)), [r2.id]);
    assert.deepEqual(ids(g.search("wider_", 10)), [r3.id]);
    // An unescaped "_" would match the space in "LR to".
    assert.deepEqual(ids(g.search("LR_to", 10)), []);
    assert.deepEqual(ids(g.search("a100", 10)), [r3.id]);
    assert.deepEqual(ids(g.search(r1.id.slice(0, 10), 10)), [r1.id]);
    assert.deepEqual(ids(g.search(NODE_IDS[1]!.slice(0, 8), 10)), [r2.id]);
    assert.deepEqual(ids(g.search("   ", 10)), []);
    assert.throws(() => g.recent(-1), StoreError);
    assert.throws(() => g.search("x", 1.5), StoreError);
    assert.equal(g.isVerified(r1.id), false);
    assert.equal(g.markVerified(r1.id), true);
    assert.equal(g.markVerified(r1.id), false);
    assert.equal(g.markVerified("missing"), false);
    assert.equal(g.isVerified(r1.id), true);
    g.close();
  });
});

Deno.test("graph: iterSinceTimestamp pages through equal timestamps without gaps", async () => {
  await withTempDir((dir) => {
    const g = GraphStore.open(join(dir, "graph.sqlite"));
    const recs = Array.from({ length: 23 }, (_, i) => makeRecord({ timestamp: 1000 + (i % 4) }));
    g.insertMany(recs);
    const got = [...g.iterSinceTimestamp(1001, 3)];
    const want = recs.filter((r) => r.timestamp >= 1001);
    assert.equal(got.length, want.length);
    assert.deepEqual(new Set(ids(got)), new Set(ids(want)));
    for (let i = 1; i < got.length; i++) assert.ok(got[i - 1]!.timestamp <= got[i]!.timestamp);
    assert.equal([...g.iterSinceTimestamp(0)].length, 23);
    assert.equal([...g.iterSinceTimestamp(5000)].length, 0);
    g.close();
  });
});

/** Create a graph.sqlite the way the Python node does: its table only, rows via plain SQL. */
function writePythonGraph(path: string, recs: readonly ExperimentRecord[]): void {
  const db = new DatabaseSync(path);
  db.exec(PYTHON_EXPERIMENT_DDL);
  appendPythonRows(db, recs);
  db.close();
}

function appendPythonRows(db: DatabaseSync, recs: readonly ExperimentRecord[]): void {
  const ins = db.prepare(
    `INSERT INTO experiment (id, parent, depth, code_cid, diff, dataset_cid, prepare_cid,
       time_budget, val_bpb, peak_vram_mb, num_steps, num_params, status, description, hypothesis,
       agent_model, gpu_model, cuda_version, torch_version, node_id, timestamp, signature, version)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const r of recs) {
    ins.run(
      r.id,
      r.parent,
      r.depth,
      r.code_cid,
      r.diff,
      r.dataset_cid,
      r.prepare_cid,
      r.time_budget,
      r.val_bpb,
      r.peak_vram_mb,
      r.num_steps,
      r.num_params,
      r.status,
      r.description,
      r.hypothesis,
      r.agent_model,
      r.gpu_model,
      r.cuda_version,
      r.torch_version,
      r.node_id,
      r.timestamp,
      r.signature,
      r.version,
    );
  }
}

Deno.test("graph: a Python-written graph opens unchanged and is backfilled", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "db", "graph.sqlite");
    Deno.mkdirSync(join(dir, "db"));
    // Children are written first for some rows: the Python node also stores out of order.
    const later = [makeRecord({ val_bpb: 0.7 })];
    const extra = makeRecord({ parent: VECTOR_RECORDS[0]!.id, val_bpb: -1, status: "keep" });
    writePythonGraph(path, [extra, ...VECTOR_RECORDS]);
    const all = [extra, ...VECTOR_RECORDS];

    const g = GraphStore.open(path);
    assert.equal(g.count(), all.length);
    for (const want of all) assertExact(g.get(want.id), want);
    assert.deepEqual(ids(g.frontier()), bruteFrontier(all));
    // Seq follows the Python insertion order.
    assert.deepEqual(g.afterSeq(0, 100).map((x) => x.record.id), ids(all));
    assert.deepEqual(
      ids(g.frontier("H100")),
      bruteFrontier(all).filter((id) => g.get(id)!.gpu_model === "H100"),
    );
    g.close();

    // The Python node writes again to the migrated file, using its own columns only.
    const db = new DatabaseSync(path);
    appendPythonRows(db, later);
    db.close();
    const again = GraphStore.open(path);
    assert.equal(again.count(), all.length + 1);
    assert.equal(again.maxSeq(), all.length + 1);
    assert.deepEqual(ids(again.frontier()), bruteFrontier([...all, ...later]));
    assert.deepEqual(again.stats(), {
      count: all.length + 1,
      frontierSize: bruteFrontier([...all, ...later]).length,
      bestValBpb: -1,
      nodes: new Set([...all, ...later].map((r) => r.node_id)).size,
    });
    assertExact(again.get(later[0]!.id), later[0]!);
    again.close();
  });
});

Deno.test("graph: a file that is not a database gives StoreError and is left unchanged", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "graph.sqlite");
    const bytes = new TextEncoder().encode("this is not a database\n".repeat(200));
    Deno.writeFileSync(path, bytes);
    assert.throws(
      () => GraphStore.open(path),
      (e: unknown) => e instanceof StoreError && e.message.includes(path),
    );
    assert.deepEqual(Deno.readFileSync(path), bytes);
  });
});

Deno.test("graph: a database whose experiment table is foreign is refused", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "graph.sqlite");
    const db = new DatabaseSync(path);
    db.exec("CREATE TABLE experiment (name TEXT)");
    db.close();
    assert.throws(() => GraphStore.open(path), /no column "id"/);
  });
});

Deno.test("graph: classes computed under the old rules (NVIDIA_ stripped) are redone on open", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "db", "graph.sqlite");
    const rec = makeRecord({ gpu_model: "NVIDIA H100 80GB HBM3" });
    let g = GraphStore.open(path);
    g.insertMany([rec]);
    g.close();
    // What a database written before the change holds.
    const db = new DatabaseSync(path);
    db.exec("UPDATE experiment SET gpu_class = 'H100'; DELETE FROM ts_meta");
    db.close();
    g = GraphStore.open(path);
    try {
      assert.deepEqual(ids(g.frontier("H100")), []);
      assert.deepEqual(ids(g.frontier("NVIDIA_H100_80GB_HBM3")), [rec.id]);
    } finally {
      g.close();
    }
  });
});
