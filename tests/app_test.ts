import assert from "node:assert/strict";
import { startSyncOnlyApp } from "./app_helpers.ts";
import { startNode as startApp } from "../src/app.ts";
import { openStores } from "../src/store/mod.ts";
import { makeRecords, signedChallenge, startNode, vectorKey, waitFor } from "./net/helpers.ts";

Deno.test("startNode composes a sync-only node whose verifier hears control events", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-app-" });
  const stores = openStores(dir);
  const recs = makeRecords(50, vectorKey(0), { tag: "app" });
  stores.graph.insertMany(recs);
  stores.close();
  const app = await startSyncOnlyApp(dir);
  let peer;
  try {
    assert.equal(app.mode, "sync-only");
    assert.equal(app.research, undefined, "sync-only runs no research loop");
    assert.equal((await Deno.readTextFile(`${dir}/spore.pid`)).trim(), String(Deno.pid));
    peer = await startNode({ peers: [`127.0.0.1:${app.node.port}`] });
    const p = peer;
    // Generous: the first verify worker of a cold cache type-checks on a loaded machine.
    await waitFor(() => p.node.stores.graph.count() === 50, "a peer syncs from the node", 60_000);

    // A signed challenge from the peer reaches the verifier through the node's control fan-out.
    const challenge = signedChallenge(recs[0]!.id, vectorKey(1));
    assert.equal(await p.node.broadcastControl(challenge), true);
    await waitFor(
      () =>
        app.verifier.evidence(recs[0]!.id).some((r) =>
          r.event.payload.event_id === challenge.payload.event_id
        ),
      "the challenge to reach the verifier",
      30_000,
    );
  } finally {
    await peer?.stop();
    await app.close();
  }
  await assert.rejects(Deno.stat(`${dir}/spore.pid`), Deno.errors.NotFound);
  // Closed means closed: the data dir is free for the next node.
  const again = await startSyncOnlyApp(dir);
  await again.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("startNode undoes what it started when a later part fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-app-" });
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      startApp({
        dataDir: dir,
        mode: "sync-only",
        genesis: true,
        host: "127.0.0.1",
        port: (taken.addr as Deno.NetAddr).port,
        explorer: false,
      }),
      Deno.errors.AddrInUse,
    );
    // The lock and log taken before the network failed were released.
    await assert.rejects(Deno.stat(`${dir}/spore.pid`), Deno.errors.NotFound);
    const app = await startSyncOnlyApp(dir);
    await app.close();
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("closing the handle twice is harmless, and `await using` closes it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-app-" });
  try {
    {
      await using app = await startSyncOnlyApp(dir);
      assert.ok(app.node.port > 0);
    }
    await assert.rejects(Deno.stat(`${dir}/spore.pid`), Deno.errors.NotFound);
    const app = await startSyncOnlyApp(dir);
    await app.close();
    await app.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
