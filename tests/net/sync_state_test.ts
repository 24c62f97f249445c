import assert from "node:assert/strict";
import { SyncState } from "../../src/net/sync_state.ts";

Deno.test("sync state persists cursors per (node, epoch) and watermarks", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-sync-" });
  const path = `${dir}/db/net_state.json`;
  try {
    const s1 = await SyncState.load(path, { records: 5, profiles: 0, control: 0 }, 10);
    s1.setCursor("n1", "e1", { records: 10, profiles: 2, control: 3 });
    s1.raiseWatermark("10.0.0.1:7470", 1000);
    s1.raiseWatermark("10.0.0.1:7470", 900); // never lowered
    await s1.close();
    const s2 = await SyncState.load(path, { records: 7, profiles: 0, control: 0 });
    assert.equal(s2.epoch, s1.epoch, "same databases: same epoch");
    assert.deepEqual(s2.cursor("n1", "e1"), { records: 10, profiles: 2, control: 3 });
    assert.deepEqual(s2.cursor("n1", "e2"), { records: 0, profiles: 0, control: 0 });
    assert.equal(s2.watermark("10.0.0.1:7470"), 1000);
    await s2.close();
    // The databases were replaced (fewer rows than handed out): new epoch.
    const s3 = await SyncState.load(path, { records: 1, profiles: 0, control: 0 });
    assert.notEqual(s3.epoch, s1.epoch);
    await s3.close();
    // A damaged file starts fresh instead of failing.
    await Deno.writeTextFile(path, "{not json");
    const s4 = await SyncState.load(path, { records: 0, profiles: 0, control: 0 });
    assert.deepEqual(s4.cursor("n1", "e1"), { records: 0, profiles: 0, control: 0 });
    await s4.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
