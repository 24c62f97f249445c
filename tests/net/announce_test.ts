/**
 * Announce, then pull, between real nodes on loopback: records cross each link once, a silent
 * announcer does not stop a record, and a Python-like peer still gets full bodies.
 */
import assert from "node:assert/strict";
import { envelope, type ExperimentRecord } from "../../src/protocol/mod.ts";
import { FEATURE_ANNOUNCE, FEATURE_SEQ_SYNC } from "../../src/net/options.ts";
import {
  FAST,
  makeRecords,
  RawPeer,
  startNode as startFastNode,
  type TestNode,
  waitFor,
} from "./helpers.ts";

/**
 * Test nodes share one process: a node starting can hold the event loop past FAST's 300 ms
 * hello wait, and a peer whose hello is read late is taken for a Python node (full bodies, no
 * announcements). These tests are about our nodes, so they wait longer for hello.
 */
function startNode(opts: Parameters<typeof startFastNode>[0] = {}): Promise<TestNode> {
  return startFastNode({ timing: { ...FAST.timing, helloWaitMs: 5000 }, ...opts });
}

async function stopAll(...nodes: (TestNode | undefined)[]): Promise<void> {
  await Promise.all(nodes.map((n) => n?.stop()));
}

const holdsAll = (n: TestNode, recs: ExperimentRecord[]) =>
  recs.every((r) => n.node.stores.graph.has(r.id));

async function publishAll(n: TestNode, recs: ExperimentRecord[]): Promise<void> {
  for (const r of recs) await n.node.publish(r);
}

Deno.test("three nodes in a line: records pulled hop by hop, one body per node per record", async () => {
  // No PEX dialing: C hears A only through B.
  const a = await startNode({ targetOutbound: 0 });
  const b = await startNode({ peers: [a.address], targetOutbound: 0 });
  const c = await startNode({ peers: [b.address], targetOutbound: 0 });
  try {
    await waitFor(() => a.node.peers().length === 1 && c.node.peers().length === 1, "links");
    await waitFor(() => b.node.peers().every((p) => p.nodeId), "hellos");
    const recs = makeRecords(60, a.keys, { tag: "line" });
    await publishAll(a, recs);
    await waitFor(() => holdsAll(c, recs), "C to hold every record");
    for (const n of [b, c]) {
      const s = n.node.stats();
      assert.equal(s.received, recs.length, "one body per record");
      assert.equal(s.duplicates, 0);
      assert.ok(s.announce!.announcedIn >= recs.length);
      assert.equal(s.announce!.requested, recs.length);
    }
    assert.equal(a.node.stats().announce!.served, recs.length);
    assert.equal(b.node.stats().announce!.served, recs.length);
  } finally {
    await stopAll(c, b, a);
  }
});

Deno.test("three nodes in a triangle converge with fewer bodies than flooding sends", async () => {
  const a = await startNode({ targetOutbound: 0 });
  const b = await startNode({ peers: [a.address], targetOutbound: 0 });
  const c = await startNode({ peers: [a.address, b.address], targetOutbound: 0 });
  try {
    await waitFor(
      () => [a, b, c].every((n) => n.node.peers().filter((p) => p.nodeId).length === 2),
      "a triangle",
    );
    const fromA = makeRecords(40, a.keys, { tag: "a" });
    const fromC = makeRecords(40, c.keys, { tag: "c", t0: 1_800_000_000 });
    await Promise.all([publishAll(a, fromA), publishAll(c, fromC)]);
    const all = [...fromA, ...fromC];
    await waitFor(() => [a, b, c].every((n) => holdsAll(n, all)), "every node to hold all");
    // Flooding delivers each record to each node once per other peer (2 here); pulling asks
    // one announcer at a time, so a second copy only follows a timed-out request.
    for (const n of [a, b, c]) {
      const s = n.node.stats();
      const wanted = n === b ? all.length : 40;
      assert.ok(s.received < 2 * wanted, `${s.received} bodies for ${wanted} records`);
    }
  } finally {
    await stopAll(c, b, a);
  }
});

/** A peer speaking our extensions by hand: says hello with the announce feature. */
/** The `hello` of a test peer with announce/pull, named `agent`. */
function announcerHello(agent: string, idChar: string): string {
  return envelope("hello", {
    node_id: idChar.repeat(64),
    listen_port: 0,
    agent,
    features: [FEATURE_SEQ_SYNC, FEATURE_ANNOUNCE],
    db_epoch: agent,
  });
}

async function announcingPeer(port: number): Promise<RawPeer> {
  const p = await RawPeer.connect(port);
  await p.sendJson(announcerHello("test-silent", "e"));
  return p;
}

Deno.test("a peer that announces but never answers does not stop the record from arriving", async () => {
  const x = await startNode({ targetOutbound: 0, inventory: { requestTimeoutMs: 300 } });
  const a = await startNode({ targetOutbound: 0 });
  let silent: RawPeer | undefined;
  try {
    const recs = makeRecords(5, a.keys, { tag: "silent" });
    silent = await announcingPeer(x.node.port);
    await waitFor(() => x.node.peers().some((p) => p.agent === "test-silent"), "silent hello");
    await silent.sendJson(envelope("announce", { ids: recs.map((r) => r.id) }));
    const asked = () =>
      silent!.received.filter((m) => m.type === "get_records")
        .flatMap((m) => (m.payload as { ids: string[] }).ids);
    await waitFor(() => asked().length === recs.length, "X to ask the silent peer first");

    // A has the records and announces them too; X must fall back to A.
    x.node.network.connect(a.address);
    await waitFor(() => a.node.peers().length === 1, "X to reach A");
    await publishAll(a, recs);
    await waitFor(() => holdsAll(x, recs), "X to get every record from A");
    // Whether A's announcement came before the silent request timed out (A is the fallback) or
    // after (the id is wanted afresh) depends on the machine's load; either way A served them.
    assert.ok(x.node.stats().announce!.timeouts >= 1, "the silent peer's request timed out");
    assert.equal(a.node.stats().announce!.served, recs.length);
  } finally {
    await silent?.close();
    await stopAll(x, a);
  }
});

Deno.test("a hello after the wait for it turns a 'Python' peer back into one of ours", async () => {
  // FAST's short hello wait: the peer is taken for a Python node before it speaks.
  const x = await startFastNode({ targetOutbound: 0 });
  let late: RawPeer | undefined;
  try {
    late = await RawPeer.connect(x.node.port);
    await waitFor(
      () => late!.received.some((m) => m.type === "sync_request"),
      "X to take the silent peer for a Python node (legacy sync_request)",
    );
    await late.sendJson(announcerHello("test-late", "f"));
    await waitFor(() => x.node.peers().some((p) => p.agent === "test-late"), "the late hello");
    const recs = makeRecords(5, x.keys, { tag: "late" });
    await publishAll(x, recs);
    const announced = () =>
      late!.received.filter((m) => m.type === "announce")
        .flatMap((m) => (m.payload as { ids: string[] }).ids);
    await waitFor(() => recs.every((r) => announced().includes(r.id)), "ids announced to it");
    assert.equal(
      late.received.filter((m) => m.type === "experiment").length,
      0,
      "no full bodies pushed to a peer that pulls",
    );
  } finally {
    await late?.close();
    await stopAll(x);
  }
});

Deno.test("a Python-like peer (no hello) gets every record as a full experiment message", async () => {
  const a = await startNode({ targetOutbound: 0 });
  const x = await startNode({ peers: [a.address], targetOutbound: 0 });
  let py: RawPeer | undefined;
  try {
    py = await RawPeer.connect(x.node.port);
    // Anything but hello first: X takes it for a Python node.
    await py.sendJson(envelope("pex_request", {}));
    await waitFor(() => x.node.peers().length === 2, "both peers of X");
    await waitFor(() => a.node.peers().some((p) => p.nodeId), "A and X to greet");
    // Published at A: X pulls them by announcement, and must push them whole to the Python peer.
    const recs = makeRecords(30, a.keys, { tag: "py" });
    await publishAll(a, recs);
    const bodies = () =>
      new Set(
        py!.received.filter((m) => m.type === "experiment")
          .map((m) => (m.payload as { id: string }).id),
      );
    await waitFor(() => recs.every((r) => bodies().has(r.id)), "every record at the Python peer");
    assert.ok(x.node.stats().announce!.requested >= recs.length, "X pulled them from A");
    const extension = py.received.filter((m) =>
      ["hello", "announce", "get_records", "sync_seq", "sync_mark"].includes(m.type)
    ).map((m) => m.type);
    // X greets every connection with hello (Python ignores it); nothing else of ours goes there.
    assert.deepEqual(extension, ["hello"]);
  } finally {
    await py?.close();
    await stopAll(x, a);
  }
});
