import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ArtifactFetcher, type ArtifactPeer, PEER_READY_ASKS } from "../../src/net/artifacts.ts";
import { ArtifactStore } from "../../src/store/mod.ts";
import { codeFiles } from "./python_like.ts";
import { waitFor } from "./helpers.ts";
import { take } from "../tuple.ts";

/** A peer that records what it was asked and answers only for the files it holds. */
class FakePeer implements ArtifactPeer {
  static #next = 1;
  readonly id = FakePeer.#next++;
  closed = false;
  readonly asked: string[] = [];
  fetcher?: ArtifactFetcher<FakePeer>;
  constructor(readonly holds = new Map<string, Uint8Array>(), readonly delayMs = 0) {}
  send(json: string): boolean {
    const m = JSON.parse(json);
    if (m.type !== "code_request") return true;
    const cid = m.payload.code_cid as string;
    this.asked.push(cid);
    const bytes = this.holds.get(cid);
    if (bytes) {
      setTimeout(
        () => this.fetcher?.onResponse(this, cid, Buffer.from(bytes).toString("base64")),
        this.delayMs,
      );
    }
    return true;
  }
}

async function setup(peers: FakePeer[], active = 1) {
  const dir = await Deno.makeTempDir({ prefix: "spore-fetcher-" });
  const store = new ArtifactStore(dir);
  const fetcher = new ArtifactFetcher<FakePeer>({
    store,
    peers: () => peers.filter((p) => !p.closed),
    deadlineMs: 2000,
    perPeerMs: 100,
    prefetchActive: active,
  });
  for (const p of peers) p.fetcher = fetcher;
  return {
    store,
    fetcher,
    async close() {
      fetcher.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("prefetch takes the newest records first; misses are retried on the next peer", async () => {
  const files = codeFiles(3, 256, "order");
  const [c1, c2, c3] = take(files.map(([c]) => c), 3);
  const silent = new FakePeer();
  const peers = [silent];
  const t = await setup(peers);
  try {
    t.fetcher.prefetch(c1, silent, 100); // starts at once: the only slot is free
    t.fetcher.prefetch(c2, silent, 200);
    t.fetcher.prefetch(c3, silent, 300);
    await waitFor(() => t.fetcher.stats().missing === 3, "three misses");
    assert.deepEqual(silent.asked, [c1, c3, c2], "newest first once the slot frees");
    // A cid no peer had is not asked again on every new record...
    t.fetcher.prefetch(c1, silent, 100);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(silent.asked.length, 3);
    // ...but at once when a new peer is ready, and only that peer.
    const holder = new FakePeer(new Map(files));
    holder.fetcher = t.fetcher;
    peers.push(holder);
    t.fetcher.peerReady(holder);
    await waitFor(() => t.fetcher.stats().missing === 0, "all fetched from the new peer");
    for (const [cid, bytes] of files) assert.deepEqual(await t.store.get(cid), bytes);
    assert.equal(silent.asked.length, 3, "the peer that had nothing was not asked again");
    assert.equal(holder.asked.length, 3);
  } finally {
    await t.close();
  }
});

Deno.test("prefetch asks only the record's sender; the miss is retried on every peer", async () => {
  const files = codeFiles(1, 256, "sender");
  const [[cid, bytes]] = take(files, 1);
  const sender = new FakePeer();
  const holder = new FakePeer(new Map(files));
  const dir = await Deno.makeTempDir({ prefix: "spore-fetcher-" });
  const store = new ArtifactStore(dir);
  const fetcher = new ArtifactFetcher<FakePeer>({
    store,
    peers: () => [sender, holder],
    perPeerMs: 50,
    missRetry: { baseMs: 300, maxMs: 600 },
  });
  sender.fetcher = holder.fetcher = fetcher;
  try {
    fetcher.prefetch(cid, sender, 1);
    await waitFor(() => fetcher.stats().missing === 1, "a miss at the sender");
    assert.deepEqual(sender.asked, [cid]);
    assert.deepEqual(holder.asked, [], "the other peer is not walked for a background prefetch");
    // The retry after the backoff asks every peer, and the holder answers.
    await waitFor(() => fetcher.stats().missing === 0, "fetched on the retry", 5000);
    assert.deepEqual(holder.asked, [cid]);
    assert.deepEqual(await store.get(cid), bytes);
  } finally {
    fetcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a newly ready peer is asked for the most recent misses only", async () => {
  const n = PEER_READY_ASKS + 40;
  const files = codeFiles(n, 64, "ready");
  const silent = new FakePeer();
  const t = await setup([silent], n);
  try {
    for (const [i, [cid]] of files.entries()) t.fetcher.prefetch(cid, silent, i + 1);
    await waitFor(() => t.fetcher.stats().missing === n, "every cid missed");
    const holder = new FakePeer();
    holder.fetcher = t.fetcher;
    t.fetcher.peerReady(holder);
    await waitFor(() => holder.asked.length === PEER_READY_ASKS, "the new peer asked");
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(holder.asked.length, PEER_READY_ASKS, "no more than the bound");
    assert.equal(new Set(holder.asked).size, PEER_READY_ASKS);
  } finally {
    await t.close();
  }
});

Deno.test("an answer arriving after its wait ended is still stored; a wrong one is not", async () => {
  const [[cid, bytes], [other]] = take(codeFiles(2, 256, "late"), 2);
  const slow = new FakePeer(new Map([[cid, bytes]]), 300); // answers after the 100 ms wait
  const t = await setup([slow]);
  try {
    // The fetch's wait for this peer ends at 100 ms; it then waits for other peers, and the
    // answer arriving at 300 ms ends it.
    assert.deepEqual(await t.fetcher.fetch(cid, slow), bytes);
    assert.deepEqual(await t.store.get(cid), bytes);
    // Unsolicited (never asked for) bytes are never written, even when they hash right.
    t.fetcher.onResponse(slow, other, Buffer.from("x").toString("base64"));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await t.store.has(other), false);
  } finally {
    await t.close();
  }
});

Deno.test("a cid no peer had is retried after its backoff", async () => {
  const [[cid]] = take(codeFiles(1, 256, "retry"), 1);
  const silent = new FakePeer();
  const dir = await Deno.makeTempDir({ prefix: "spore-fetcher-" });
  const fetcher = new ArtifactFetcher<FakePeer>({
    store: new ArtifactStore(dir),
    peers: () => [silent],
    perPeerMs: 50,
    missRetry: { baseMs: 100, maxMs: 200 },
  });
  try {
    fetcher.prefetch(cid, silent, 1);
    await waitFor(() => silent.asked.length >= 2, "a retry", 5000);
    assert.equal(fetcher.stats().missing, 1);
  } finally {
    fetcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});
