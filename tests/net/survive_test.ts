/** A node survives its parts: research failures and an explorer that cannot bind. */
import assert from "node:assert/strict";
import { startNode as startApp } from "../../src/app.ts";
import { envelope } from "../../src/protocol/mod.ts";
import { FakeTrainer } from "../research/fakes.ts";
import { FAST, makeRecords, RawPeer, startNode, vectorKey, waitFor } from "./helpers.ts";

Deno.test("a baseline that exits 1 stops research, says what to fix, and the node runs on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-survive-" });
  const trainer = new FakeTrainer();
  trainer.baseline += "\n# CRASH_ME\n"; // train.py exits 1 (RuntimeError) at the baseline
  const said: string[] = [];
  // The explorer's port taken, and the last port: no other port to search.
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 65535 });
  const app = await startApp({
    dataDir: dir,
    mode: "research",
    genesis: true,
    host: "127.0.0.1",
    port: 0,
    webPort: 65535,
    trainer,
    say: (l) => said.push(l),
    network: { ...FAST, verifyWorkers: 1 },
  });
  let peer;
  let raw: RawPeer | undefined;
  try {
    assert.equal(app.explorer, undefined);
    assert.match(
      app.explorerError!,
      /65535.*in use; pick another with --web-port/,
      "a warning, not a stop",
    );
    assert.ok(said.some((l) => l.startsWith("warning: explorer not started")));
    const summary = await app.research!;
    assert.equal(summary.stopReason, "baseline-crash");
    assert.ok(
      said.some((l) => /To resume: fix the workspace's train\.py .*keeps syncing/.test(l)),
      said.join("\n"),
    );
    // The check: still answering and syncing 60 s after research stopped.
    await new Promise((r) => setTimeout(r, 60_000));
    const r = raw = await RawPeer.connect(app.node.port);
    await r.sendJson(envelope("ping", {}));
    await waitFor(() => r.received.some((m) => m.type === "pong"), "pong");
    // ...and it still syncs: a peer's records arrive and are served back.
    peer = await startNode({ peers: [`127.0.0.1:${app.node.port}`] });
    const recs = makeRecords(30, vectorKey(2), { tag: "alive" });
    for (const rec of recs) await peer.node.publish(rec);
    await waitFor(() => recs.every((r) => app.node.stores.graph.has(r.id)), "records synced");
  } finally {
    await raw?.close();
    await peer?.stop();
    await app.close();
    blocker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
