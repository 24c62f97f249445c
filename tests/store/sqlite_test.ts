import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../../src/store/sqlite.ts";
import { withTempDir } from "./helpers.ts";

function pragma(db: DatabaseSync, name: string): number {
  return Number(Object.values(db.prepare(`PRAGMA ${name}`).get() ?? {})[0]);
}

Deno.test("a new file gets 8 KiB pages, WAL, and a checkpoint every 40 MiB of WAL", async () => {
  await withTempDir((dir) => {
    const db = openDatabase(join(dir, "new.sqlite"));
    try {
      db.exec("CREATE TABLE t (x)");
      assert.equal(pragma(db, "page_size"), 8192);
      assert.equal(String(db.prepare("PRAGMA journal_mode").get()?.journal_mode), "wal");
      assert.equal(pragma(db, "wal_autocheckpoint") * 8192, 40 * 1024 * 1024);
    } finally {
      db.close();
    }
  });
});

Deno.test("an existing 4 KiB-page file keeps its pages and checkpoints at the same WAL size", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "old.sqlite");
    const raw = new DatabaseSync(path);
    raw.exec("CREATE TABLE t (x)");
    raw.close();
    const db = openDatabase(path);
    try {
      assert.equal(pragma(db, "page_size"), 4096);
      assert.equal(pragma(db, "wal_autocheckpoint") * 4096, 40 * 1024 * 1024);
    } finally {
      db.close();
    }
  });
});
