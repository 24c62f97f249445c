/**
 * The node as a member of the Python network: tests against a raw-socket peer that behaves as
 * PROTOCOL.md section 11 describes the Python node (tests/net/python_like.ts).
 */
import assert from "node:assert/strict";
import { startSyncOnlyApp } from "../app_helpers.ts";
import { type NodeProfile, signProfile } from "../../src/protocol/mod.ts";
import { ProfileStore, storePaths } from "../../src/store/mod.ts";
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

Deno.test("our profile reaches a Python peer, which never asks for it; theirs is stored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-py-profile-" });
  const app = await startSyncOnlyApp(dir);
  const theirs = signProfile({
    node_id: vectorKey(5).nodeId,
    display_name: "python node",
    bio: "",
    website: "",
    avatar_url: "",
    donation_address: "",
    timestamp: 1_700_000_000,
    schema_version: 1,
  }, vectorKey(5).seed);
  const mine = signProfile({
    node_id: app.keys.nodeId,
    display_name: "ts node",
    bio: "b",
    website: "",
    avatar_url: "",
    donation_address: "",
    timestamp: 1_700_000_100,
    schema_version: 1,
  }, app.keys.seed);
  assert.equal(await app.node.network.publishProfile(mine), true);
  const py = await PythonLikePeer.connect(app.node.port, { profile: theirs });
  try {
    await waitFor(() => py.messages("profile").length > 0, "our profile at the Python peer");
    const got = py.messages("profile")[0] as NodeProfile;
    assert.deepEqual(got, mine, "exactly the signed profile: no extra keys");
    assert.deepEqual(Object.keys(got).sort(), Object.keys(theirs).sort());
    await waitFor(() => app.node.stores.profiles.get(theirs.node_id) !== undefined, "theirs");

    // `spore profile set` while the node runs: another process writes the store.
    const other = ProfileStore.open(storePaths(dir).profiles);
    const next = signProfile(
      { ...mine, display_name: "renamed", timestamp: mine.timestamp + 1 },
      app.keys.seed,
    );
    other.upsert(next);
    other.close();
    await waitFor(
      () => py.messages("profile").some((p) => (p as NodeProfile).id === next.id),
      "the changed profile pushed to the connected Python peer",
    );
  } finally {
    await py.close();
    await app.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a profile changed by another process while running reaches our peers before a live mark covers it", async () => {
  const a = await startNode();
  const b = await startNode({ peers: [a.address] });
  try {
    await waitFor(() => a.node.peers().length === 1 && b.node.peers().length === 1, "link");
    // Let live marks flow first, so the test sees a mark cover the change if it were skipped.
    await new Promise((r) => setTimeout(r, 300));
    const p = signProfile({
      node_id: a.keys.nodeId,
      display_name: "set while running",
      bio: "",
      website: "",
      avatar_url: "",
      donation_address: "",
      timestamp: 1_700_000_200,
      schema_version: 1,
    }, a.keys.seed);
    const other = ProfileStore.open(storePaths(a.dir).profiles);
    other.upsert(p);
    other.close();
    await waitFor(() => b.node.stores.profiles.get(a.keys.nodeId)?.id === p.id, "the profile on B");
  } finally {
    await b.stop();
    await a.stop();
  }
});

Deno.test("an unsigned dispute from a Python peer reaches a Python peer behind us, and changes no reputation here", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-py-dispute-" });
  const app = await startSyncOnlyApp(dir);
  const [rec] = makeRecords(1, vectorKey(6), { tag: "disputed" });
  app.node.stores.graph.insert(rec!);
  const pyA = await PythonLikePeer.connect(app.node.port);
  const pyB = await PythonLikePeer.connect(app.node.port);
  const ours = await startNode({ peers: [`127.0.0.1:${app.node.port}`] });
  try {
    // Both Python peers are known as such once they have spoken (or after the hello wait).
    await waitFor(() => app.node.peers().length === 3, "three peers");
    await new Promise((r) => setTimeout(r, 500));
    const before = JSON.stringify(app.node.stores.reputation.leaderboard(100));
    const challenger = vectorKey(7).nodeId;
    const dispute = {
      event_id: `dispute:${rec!.id}:${challenger}`,
      experiment_id: rec!.id,
      original_node_id: rec!.node_id,
      challenger_id: challenger,
      challenger_bpb: 1.9,
      outcome: "rejected",
      ground_truth_bpb: 1.9,
      verifier_count: 3,
    };
    await pyA.send("dispute", dispute);
    await waitFor(
      () => pyB.messages("dispute").length === 1,
      "the dispute at the second Python peer",
    );
    assert.deepEqual(pyB.messages("dispute")[0], dispute);
    // Sent again (Python peers re-send what they relay): relayed once only.
    await pyA.send("dispute", dispute);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(pyB.messages("dispute").length, 1);
    assert.equal(pyA.messages("dispute").length, 0, "never echoed to its sender");
    assert.equal(
      ours.node.stores.control.has("dispute", dispute.event_id),
      false,
      "our own peers do not get unauthenticated events",
    );
    assert.equal(app.node.stores.control.has("dispute", dispute.event_id), false, "not logged");
    assert.equal(JSON.stringify(app.node.stores.reputation.leaderboard(100)), before);
    assert.equal(app.node.stores.reputation.get(rec!.node_id).disputes_lost, 0);
  } finally {
    await ours.stop();
    await pyA.close();
    await pyB.close();
    await app.close();
    await Deno.remove(dir, { recursive: true });
  }
});
