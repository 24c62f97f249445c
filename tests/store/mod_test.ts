import assert from "node:assert/strict";
import { join } from "node:path";
import { openStores, StoreError } from "../../src/store/mod.ts";
import { makeRecord, withTempDir } from "./helpers.ts";

Deno.test("openStores: creates the data dir layout and reopens what it wrote", async () => {
  await withTempDir(async (dir) => {
    const stores = openStores(dir);
    const rec = makeRecord();
    stores.graph.insert(rec);
    stores.reputation.recordPublish(rec.node_id, rec.id);
    stores.control.append("challenge", { event_id: "c1", experiment_id: rec.id });
    const cid = await stores.artifacts.put(new TextEncoder().encode("code"));
    stores.close();
    for (const f of ["graph.sqlite", "reputation.sqlite", "profile.sqlite", "control.sqlite"]) {
      assert.ok(Deno.statSync(join(dir, "db", f)).isFile, f);
    }
    const again = openStores(dir);
    assert.equal(again.graph.get(rec.id)?.signature, rec.signature);
    assert.equal(again.reputation.get(rec.node_id).experiments_published, 1);
    assert.equal(again.control.has("challenge", "c1"), true);
    assert.equal(await again.artifacts.has(cid), true);
    again.close();
  });
});

Deno.test("openStores: a damaged database file is named in the error and kept", async () => {
  await withTempDir((dir) => {
    Deno.mkdirSync(join(dir, "db"));
    const path = join(dir, "db", "profile.sqlite");
    const junk = new Uint8Array(4096).fill(7);
    Deno.writeFileSync(path, junk);
    assert.throws(
      () => openStores(dir),
      (e: unknown) => e instanceof StoreError && e.message.includes("profile.sqlite"),
    );
    assert.deepEqual(Deno.readFileSync(path), junk);
  });
});
