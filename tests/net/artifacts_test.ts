import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { envelope, sha256Hex } from "../../src/protocol/mod.ts";
import { makeRecords, RawPeer, startNode, vectorKey, waitFor } from "./helpers.ts";
import { take } from "../tuple.ts";

const LIAR_ID = "f".repeat(64);

/** A raw peer that says hello and answers every code_request with the wrong bytes. */
async function startLiar(
  port: number,
): Promise<{ peer: RawPeer; asked: () => number; stop(): Promise<void> }> {
  const peer = await RawPeer.connect(port);
  await peer.sendJson(envelope("hello", {
    node_id: LIAR_ID,
    listen_port: 0,
    agent: "liar",
    features: [],
    db_epoch: "liar",
  }));
  let answered = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const reqs = peer.received.filter((m) => m.type === "code_request");
      for (const r of reqs.slice(answered)) {
        const cid = (r.payload as { code_cid: string }).code_cid;
        await peer.sendJson(envelope("code_response", {
          code_cid: cid,
          code: Buffer.from("print('not the real code')").toString("base64"),
        }));
      }
      answered = reqs.length;
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  return {
    peer,
    asked: () => peer.received.filter((m) => m.type === "code_request").length,
    async stop() {
      running = false;
      await loop;
      await peer.close();
    },
  };
}

Deno.test("code fetch skips a peer that returns wrong bytes; callers share one fetch", async () => {
  const honest = await startNode();
  const code = new TextEncoder().encode("import torch\nprint('train')\n");
  const cid = await honest.node.stores.artifacts.put(code);
  const x = await startNode({ peers: [honest.address] });
  const liar = await startLiar(x.node.port);
  try {
    await waitFor(() => x.node.peers().filter((p) => p.nodeId).length === 2, "both peers up");
    const [a, b] = await Promise.all([
      x.node.network.fetchArtifact(cid, LIAR_ID),
      x.node.network.fetchArtifact(cid, LIAR_ID),
    ]);
    assert.deepEqual(a, code);
    assert.equal(a, b, "concurrent callers got the result of one shared fetch");
    assert.equal(liar.asked(), 1, "the preferred (lying) peer was asked once");
    assert.deepEqual(await x.node.stores.artifacts.get(cid), code);
    assert.equal(sha256Hex((await x.node.fetchArtifact(cid))!), cid, "now served locally");
    assert.equal(liar.asked(), 1);
  } finally {
    await liar.stop();
    await x.stop();
    await honest.stop();
  }
});

Deno.test("a fetch nobody can answer gives up with undefined at its deadline", async () => {
  const a = await startNode();
  const b = await startNode({ peers: [a.address] });
  try {
    await waitFor(() => b.node.peers().some((p) => p.nodeId), "link");
    const t0 = performance.now();
    assert.equal(await b.node.fetchArtifact("ab".repeat(32)), undefined);
    // FAST: 5 s deadline; it waits for new peers until then, and not much longer.
    assert.ok(performance.now() - t0 < 5000 + 3000, "gave up at the deadline, not a hang");
    assert.equal(await b.node.fetchArtifact("../../etc/passwd"), undefined);
  } finally {
    await b.stop();
    await a.stop();
  }
});

Deno.test("a fetch with no peer waits for one to connect before its deadline", async () => {
  const holder = await startNode();
  const code = new TextEncoder().encode("# only the late peer has this\n");
  const cid = await holder.node.stores.artifacts.put(code);
  const x = await startNode();
  try {
    const pending = x.node.fetchArtifact(cid);
    await new Promise((r) => setTimeout(r, 300)); // exhausted: nobody is connected yet
    x.node.network.connect(holder.address);
    assert.deepEqual(await pending, code);
  } finally {
    await x.stop();
    await holder.stop();
  }
});

Deno.test("an experiment arriving from a peer prefetches its code", async () => {
  const a = await startNode();
  const b = await startNode({ peers: [a.address] });
  try {
    await waitFor(() => b.node.peers().some((p) => p.nodeId), "link");
    const code = new TextEncoder().encode("# code for the record\n");
    const codeCid = await a.node.stores.artifacts.put(code);
    const [rec] = take(makeRecords(1, vectorKey(5), { tag: "pf", codeCid }), 1);
    await a.node.publish(rec, code);
    await waitFor(() => b.node.stores.graph.has(rec.id), "the record");
    let have = false;
    await waitFor(() => {
      b.node.stores.artifacts.has(codeCid).then((h) => have = h);
      return have;
    }, "the prefetched code");
    assert.deepEqual(await b.node.stores.artifacts.get(codeCid), code);
  } finally {
    await b.stop();
    await a.stop();
  }
});
