import assert from "node:assert/strict";
import { type ExperimentRecord, recordId } from "../../src/protocol/mod.ts";
import { vectors, vectorsPath } from "../protocol/vectors.ts";
import { RawPeer, startNode, waitFor } from "./helpers.ts";

/** Message bodies exactly as the Python node writes them: json.dumps(sort_keys=True, indent=2). */
async function pythonBodies(key: "records" | "invalid_records"): Promise<string[]> {
  const script = "import json,sys\n" +
    `items = json.load(open(sys.argv[1]))['${key}']\n` +
    "print(json.dumps([json.dumps({'type': 'experiment', 'payload': r['wire']}, " +
    "sort_keys=True, indent=2) for r in items]))";
  const out = await new Deno.Command("python3", { args: ["-c", script, vectorsPath] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("every vector record sent the Python way: valid ones stored, invalid ones dropped", async () => {
  const valid = await pythonBodies("records");
  const invalid = await pythonBodies("invalid_records");
  assert.equal(valid.length, vectors.records.length);
  assert.ok(invalid.length > 0);
  assert.ok(valid[0]!.includes('\n  "payload": {\n'), "bodies are indent=2 like Python's");
  const n = await startNode();
  const peer = await RawPeer.connect(n.node.port);
  try {
    // Interleave so an invalid record never blocks the valid ones behind it.
    for (let i = 0; i < Math.max(valid.length, invalid.length); i++) {
      if (i < invalid.length) await peer.sendJson(invalid[i]!);
      if (i < valid.length) await peer.sendJson(valid[i]!);
    }
    const graph = n.node.stores.graph;
    await waitFor(() => vectors.records.every((v) => graph.has(v.wire.id)), "valid records");
    await n.node.network.flush();
    assert.equal(graph.count(), vectors.records.length);
    for (const v of vectors.invalid_records) {
      const id = v.wire.id;
      // An invalid record may reuse a valid record's id; then the stored one must be the valid one.
      if (typeof id === "string" && graph.has(id)) {
        assert.equal(
          graph.get(id)!.signature,
          vectors.records.find((r) => r.wire.id === id)!
            .wire.signature,
        );
      }
    }
    assert.equal(n.node.stats().invalid, invalid.length);
    assert.equal(n.node.stats().stored, vectors.records.length);
    for (const v of vectors.records) assert.equal(recordId(graph.get(v.wire.id)!), v.cid);
    assert.equal(peer.closedByPeer, false, "a Python peer sending invalid records stays connected");

    // Without hello the node treats the peer as Python: it asks for a timestamp sync...
    await waitFor(() => peer.received.some((m) => m.type === "sync_request"), "sync_request");
    // ...and answers one, byte-exact (ids still verify after the round trip).
    const before = peer.received.length;
    await peer.sendJson(JSON.stringify({ type: "sync_request", payload: { since: 0 } }));
    await waitFor(
      () =>
        peer.received.slice(before).filter((m) => m.type === "experiment").length ===
          vectors.records.length,
      "sync answer",
    );
    for (const m of peer.received.slice(before).filter((m) => m.type === "experiment")) {
      const rec = m.payload as ExperimentRecord;
      assert.equal(recordId(rec), rec.id);
    }
    // The only extension message it ever sent first is hello, which Python ignores.
    assert.equal(peer.received[0]!.type, "hello");
  } finally {
    await peer.close();
    await n.stop();
  }
});

Deno.test("a Python peer's sync watermark is persisted per address and used next time", async () => {
  const n = await startNode();
  const bodies = await pythonBodies("records");
  const maxTs = Math.max(...vectors.records.map((v) => v.wire.timestamp));
  // A fake Python server the node dials: it sends records, then we look at the next sync_request.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const address = `127.0.0.1:${port}`;
  try {
    n.node.network.connect(address);
    const first = await RawPeer.fromConn(await listener.accept());
    await waitFor(() => first.received.some((m) => m.type === "sync_request"), "first sync");
    const req1 = first.received.find((m) => m.type === "sync_request")!;
    assert.deepEqual(req1.payload, { since: 0 });
    for (const b of bodies) await first.sendJson(b);
    await waitFor(() => n.node.stores.graph.count() === bodies.length, "records stored");
    await first.close();
    // The node redials after the drop and asks only from its watermark (minus a safety margin).
    const second = await RawPeer.fromConn(await listener.accept());
    await waitFor(() => second.received.some((m) => m.type === "sync_request"), "second sync");
    const req2 = second.received.find((m) => m.type === "sync_request")!;
    assert.deepEqual(req2.payload, { since: Math.max(0, maxTs - 3600) });
    await second.close();
  } finally {
    listener.close();
    await n.stop();
  }
});
