/**
 * The node as a member of the Python network: tests against a raw-socket peer that behaves as
 * PROTOCOL.md section 11 describes the Python node (tests/net/python_like.ts).
 */
import assert from "node:assert/strict";
import { FAST, makeRecords, startNode, vectorKey, waitFor } from "./helpers.ts";
import { codeFiles, PythonLikePeer } from "./python_like.ts";

Deno.test("after syncing 225 records from a Python peer, all their code is stored within 10 s", async () => {
  // As on the live network, its graph also holds older records whose code nobody has any more:
  // each such request is answered by silence, costing the full per-peer wait (default timing).
  const old = makeRecords(300, vectorKey(4), {
    tag: "gone",
    codeCids: codeFiles(300, 64, "gone").map(([c]) => c),
  });
  const files = codeFiles(225, 4096, "py225");
  const fresh = makeRecords(225, vectorKey(3), {
    tag: "py",
    t0: 1_800_000_000,
    codeCids: files.map(([c]) => c),
  });
  const n = await startNode({
    timing: { ...FAST.timing, artifactDeadlineMs: 60_000, artifactPerPeerMs: 10_000 },
  });
  const py = await PythonLikePeer.connect(n.node.port, {
    records: [...old, ...fresh],
    code: new Map(files),
  });
  try {
    await waitFor(() => n.node.stores.graph.count() === 525, "the 525 records", 20_000);
    const synced = Date.now();
    let missing = files.map(([c]) => c);
    await waitFor(
      () => {
        // has() is async: check what is still missing, the poll sees the result next round.
        Promise.all(missing.map((c) => n.node.stores.artifacts.has(c))).then((have) => {
          missing = missing.filter((_, i) => !have[i]);
        });
        return missing.length === 0;
      },
      "every available artifact",
      10_000,
    );
    assert.ok(Date.now() - synced <= 10_000);
    for (const [cid, bytes] of files.slice(0, 5)) {
      assert.deepEqual(await n.node.stores.artifacts.get(cid), bytes);
    }
  } finally {
    await py.close();
    await n.stop();
  }
});
