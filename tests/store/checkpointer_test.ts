import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { WalCheckpointer } from "../../src/store/checkpointer.ts";
import { GraphStore } from "../../src/store/mod.ts";
import { openDatabase } from "../../src/store/sqlite.ts";
import { makeRecord, withTempDir } from "./helpers.ts";

const ROW = "x".repeat(2_000);

/** A WAL database with one table; each `write` commits `n` rows of 2 KB. */
function walTable(path: string): { db: DatabaseSync; write(n: number): void } {
  const db = openDatabase(path);
  db.exec("CREATE TABLE t (v TEXT)");
  const ins = db.prepare("INSERT INTO t (v) VALUES (?)");
  return {
    db,
    write(n: number) {
      db.exec("BEGIN");
      for (let i = 0; i < n; i++) ins.run(ROW);
      db.exec("COMMIT");
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Write batches, telling `cp`, until `done()` or a deadline; true when `done()` was reached. */
async function writeUntil(
  t: { write(n: number): void },
  cp: WalCheckpointer | null,
  done: () => boolean,
  ms = 5_000,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    t.write(50);
    cp?.wrote(50);
    if (done()) return true;
    await sleep(10);
  }
  return done();
}

Deno.test("checkpointer: after bulk writes a worker copies the WAL into the database file", async () => {
  await withTempDir(async (dir) => {
    // Without it, nothing reaches the database file below SQLite's 40 MiB automatic checkpoint.
    const plainPath = join(dir, "plain.sqlite");
    const plain = walTable(plainPath);
    const before = statSync(plainPath).size;
    await writeUntil(plain, null, () => false, 300);
    assert.equal(statSync(plainPath).size, before);
    plain.db.close();

    const path = join(dir, "bg.sqlite");
    const t = walTable(path);
    const cp = new WalCheckpointer(path, { spawnRows: 100, minIntervalMs: 0 });
    const empty = statSync(path).size;
    assert.ok(await writeUntil(t, cp, () => cp.completed >= 2), "no background checkpoint ran");
    assert.ok(cp.running);
    assert.ok(statSync(path).size > empty + 100 * ROW.length, "database file did not grow");
    cp.close();
    assert.equal(cp.running, false);
    t.db.close();
    // The writer's close was the last one: SQLite checkpointed and removed the WAL.
    assert.equal(existsSync(`${path}-wal`), false);
  });
});

Deno.test("checkpointer: an idle worker exits and bulk writes start another", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "idle.sqlite");
    const t = walTable(path);
    const cp = new WalCheckpointer(path, { spawnRows: 100, minIntervalMs: 0, idleMs: 50 });
    assert.ok(await writeUntil(t, cp, () => cp.completed >= 1));
    await sleep(300);
    t.write(10);
    cp.wrote(10); // notices the exit; 10 rows are below spawnRows
    assert.equal(cp.running, false);
    const seen = cp.completed;
    assert.ok(await writeUntil(t, cp, () => cp.completed > seen), "no second worker");
    cp.close();
    t.db.close();
  });
});

Deno.test("checkpointer: a worker that cannot open the file leaves checkpoints to the writer", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "ok.sqlite");
    const t = walTable(path);
    // The worker opens a path in a directory that does not exist.
    const cp = new WalCheckpointer(join(dir, "missing", "x.sqlite"), { spawnRows: 50 });
    t.write(50);
    cp.wrote(50);
    assert.ok(cp.running);
    const deadline = Date.now() + 5_000;
    while (cp.running && Date.now() < deadline) {
      await sleep(10);
      cp.wrote(1);
    }
    assert.equal(cp.running, false);
    cp.wrote(1_000); // disabled: no new worker
    assert.equal(cp.running, false);
    assert.equal(cp.completed, 0);
    cp.close();
    t.db.close();
  });
});

Deno.test("checkpointer: a worker module that fails to load does not disturb writes", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "graph.sqlite");
    const g = GraphStore.open(path, {
      checkpoint: { spawnRows: 10, workerUrl: new URL("./no_such_worker.ts", import.meta.url) },
    });
    const recs = Array.from({ length: 40 }, (_, i) => makeRecord({ val_bpb: 1 + i / 100 }));
    for (let i = 0; i < recs.length; i += 10) {
      g.insertMany(recs.slice(i, i + 10));
      await sleep(20);
    }
    assert.equal(g.count(), 40);
    g.close();
  });
});

Deno.test("graph: background checkpoints run only when the store is opened with them", async () => {
  await withTempDir(async (dir) => {
    const grew: boolean[] = [];
    for (const backgroundCheckpoint of [false, true]) {
      const path = join(dir, `graph-${backgroundCheckpoint}.sqlite`);
      const g = GraphStore.open(path, {
        backgroundCheckpoint,
        checkpoint: { spawnRows: 20, minIntervalMs: 0 },
      });
      const size = statSync(path).size;
      const recs = Array.from({ length: 200 }, (_, i) => makeRecord({ val_bpb: 2 - i / 1e4 }));
      for (let i = 0; i < recs.length && statSync(path).size === size; i += 20) {
        g.insertMany(recs.slice(i, i + 20));
        await sleep(50);
      }
      grew.push(statSync(path).size > size);
      g.close();
    }
    assert.deepEqual(grew, [false, true]);
  });
});

Deno.test("graph: bulk inserts with background checkpoints keep every record", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "graph.sqlite");
    const g = GraphStore.open(path, { checkpoint: { spawnRows: 100, minIntervalMs: 0 } });
    const recs = Array.from({ length: 600 }, (_, i) => makeRecord({ val_bpb: 2 - i / 1e4 }));
    for (let i = 0; i < recs.length; i += 50) {
      assert.equal(g.insertMany(recs.slice(i, i + 50)), 50);
      await sleep(5);
    }
    g.close();
    assert.equal(existsSync(`${path}-wal`), false);
    const again = GraphStore.open(path);
    assert.equal(again.count(), recs.length);
    assert.equal(again.get(recs[377]!.id)?.signature, recs[377]!.signature);
    again.close();
  });
});
