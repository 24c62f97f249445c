import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { StoreError } from "../../src/store/mod.ts";
import { VerifyDb, verifyDbPath } from "../../src/verify/mod.ts";

Deno.test("verify.sqlite opens through the stores' helper: WAL and their page size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-verifydb-" });
  try {
    const path = verifyDbPath(dir);
    VerifyDb.open(path).close();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      // Fresh files get the stores' 8 KiB pages (the page size persists in the file).
      assert.equal(db.prepare("PRAGMA page_size").get()?.page_size, 8192);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a verify.sqlite that is not a database is named in a StoreError and left untouched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-verifydb-" });
  try {
    const path = join(dir, "verify.sqlite");
    const junk = new TextEncoder().encode("not a database, but someone's file\n".repeat(200));
    await Deno.writeFile(path, junk);
    assert.throws(
      () => VerifyDb.open(path),
      (e: unknown) => e instanceof StoreError && e.message.includes(path),
    );
    assert.deepEqual(await Deno.readFile(path), junk);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
