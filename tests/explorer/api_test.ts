/** In-process tests of every `/api` endpoint: shapes, pagination and error paths. */
import assert from "node:assert/strict";
import { createApp } from "../../src/explorer/server.ts";
import { MAX_LIMIT } from "../../src/explorer/params.ts";
import { DEFAULT_BOUNDS } from "../../src/explorer/graph_view.ts";
import { recordId, sha256Hex } from "../../src/protocol/mod.ts";
import { join } from "node:path";
import { makeRecord, NODE_IDS, seedGraph, withNode } from "./helpers.ts";
import { embeddedClasses, SYNTHETIC_DATASET_CID } from "../../src/training/research_workspace.ts";

type Json = Record<string, unknown>;

async function get(app: ReturnType<typeof createApp>, path: string) {
  const res = await app.request(path);
  const body = res.headers.get("content-type")?.includes("json")
    ? await res.json()
    : await res.text();
  return { status: res.status, body, headers: res.headers };
}

const ids = (rows: Json[]) => rows.map((r) => r.id);

Deno.test("api: /api/stat reports counts, peers, node id and live clients", async () => {
  await withNode(async (node) => {
    await seedGraph(node);
    node.peerList = [{ address: "127.0.0.1:7471", inbound: false, connectedAt: 1 }];
    const app = createApp(node);
    const { status, body } = await get(app, "/api/stat");
    assert.equal(status, 200);
    assert.deepEqual(
      { ...body, version: undefined },
      {
        experiment_count: 6,
        frontier_size: 2,
        best_val_bpb: 0.98,
        peer_count: 1,
        network: null, // the fake node has no network of its own
        node_id: NODE_IDS[0],
        ws_client: 0,
        node_count: 4,
        version: undefined,
      },
    );
  });
});

Deno.test("api: /api/graph default view has every record, edges and the frontier", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const { status, body } = await get(app, "/api/graph");
    assert.equal(status, 200);
    assert.equal(body.view, "bounded");
    assert.equal(body.truncated, false);
    assert.deepEqual(new Set(ids(body.node)), new Set(g.all.map((r) => r.id)));
    const edges = new Set(body.edge.map((e: Json) => `${e.source}>${e.target}`));
    assert.deepEqual(
      edges,
      new Set([
        `${g.root.id}>${g.a1.id}`,
        `${g.a1.id}>${g.a2.id}`,
        `${g.root.id}>${g.b1.id}`,
        `${g.a1.id}>${g.c1.id}`,
      ]),
    );
    assert.deepEqual(body.frontier_id, g.frontier);
    const a2 = body.node.find((n: Json) => n.id === g.a2.id);
    assert.equal(a2.node_display_name, "Alice <script>x</script>");
    // The full record comes back unchanged apart from the added name.
    assert.equal(a2.gpu_class, "NVIDIA_H100_80GB_HBM3"); // the Python node's class of this name
    const { node_display_name: _n, gpu_class: _g, ...wire } = a2;
    assert.equal(recordId(wire), g.a2.id);
    const root = body.node.find((n: Json) => n.id === g.root.id);
    assert.equal("node_display_name" in root, false, "no profile, no name");
  });
});

Deno.test("api: /api/graph summary fields, gpu filter and full pages", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const summary = (await get(app, "/api/graph?fields=summary")).body;
    assert.equal(summary.node.length, 6);
    assert.equal("diff" in summary.node[0], false);
    assert.equal(typeof summary.node[0].val_bpb, "number");

    const rtx = (await get(app, "/api/graph?gpu=RTX_4090")).body;
    assert.deepEqual(rtx.frontier_id, [g.rtx.id]);

    const p1 = await get(app, "/api/graph?view=full&limit=4");
    assert.equal(p1.body.node.length, 4);
    assert.equal(p1.headers.get("x-next-offset"), "4");
    assert.equal(p1.body.truncated, true);
    const p2 = await get(app, "/api/graph?view=full&limit=4&offset=4");
    assert.equal(p2.body.node.length, 2);
    assert.equal(p2.headers.get("x-next-offset"), null);
    const all = [...p1.body.node, ...p2.body.node];
    assert.deepEqual(new Set(ids(all)), new Set(g.all.map((r) => r.id)));
    assert.deepEqual(
      new Set([...p1.body.frontier_id, ...p2.body.frontier_id]),
      new Set(g.frontier),
    );
    assert.equal(p1.body.edge.length + p2.body.edge.length, 4);
  });
});

Deno.test("api: /api/graph bounded view caps the node count on a large graph", async () => {
  await withNode(async (node) => {
    // A long chain with improving results: only its tip is on the frontier.
    const recs = [];
    let parent = null;
    for (let i = 0; i < 1200; i++) {
      const rec = makeRecord({ parent, val_bpb: 2 - i / 1000, timestamp: 1_773_200_000 + i });
      recs.push(rec);
      parent = rec;
    }
    node.stores.graph.insertMany(recs);
    const { body } = await get(createApp(node), "/api/graph?fields=summary");
    assert.ok(
      body.node.length <= DEFAULT_BOUNDS.maxNodes,
      `bounded view has ${body.node.length} nodes`,
    );
    assert.equal(body.truncated, true);
    assert.deepEqual(body.frontier_id, [recs[1199]!.id]);
    const shown = new Set(ids(body.node));
    assert.ok(shown.has(recs[1199]!.id));
    // Every edge joins two shown records.
    for (const e of body.edge) assert.ok(shown.has(e.source) && shown.has(e.target));
  });
});

Deno.test("api: /api/frontier lists the frontier, filters by gpu class and pages", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    assert.deepEqual(ids((await get(app, "/api/frontier")).body), g.frontier);
    // Any spelling of the device normalizes to the class.
    assert.deepEqual(ids((await get(app, "/api/frontier?gpu=nvidia-h100-80gb%20HBM3")).body), [
      g.a2.id,
    ]);
    assert.deepEqual(ids((await get(app, "/api/frontier?gpu=rtx-4090")).body), [g.rtx.id]);
    assert.deepEqual((await get(app, "/api/frontier?gpu=A100")).body, []);
    const p1 = await get(app, "/api/frontier?limit=1");
    assert.deepEqual(ids(p1.body), [g.a2.id]);
    assert.equal(p1.headers.get("x-next-offset"), "1");
    const p2 = await get(app, "/api/frontier?limit=1&offset=1");
    assert.deepEqual(ids(p2.body), [g.rtx.id]);
    assert.equal(p2.headers.get("x-next-offset"), null);
  });
});

Deno.test("api: /api/recent is newest first and pages with limit/offset", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const newest = [...g.all].sort((a, b) => b.timestamp - a.timestamp).map((r) => r.id);
    assert.deepEqual(ids((await get(app, "/api/recent")).body), newest);
    const p = await get(app, "/api/recent?limit=2&offset=2");
    assert.deepEqual(ids(p.body), newest.slice(2, 4));
    assert.equal(p.headers.get("x-next-offset"), "4");
    assert.deepEqual((await get(app, "/api/recent?offset=100")).body, []);
  });
});

Deno.test("api: limits above the cap are capped, not refused", async () => {
  await withNode(async (node) => {
    const recs = Array.from(
      { length: MAX_LIMIT + 5 },
      (_, i) => makeRecord({ timestamp: 1_773_300_000 + i }),
    );
    node.stores.graph.insertMany(recs);
    const res = await get(createApp(node), "/api/recent?limit=999999");
    assert.equal(res.status, 200);
    assert.equal(res.body.length, MAX_LIMIT);
    assert.equal(res.headers.get("x-next-offset"), String(MAX_LIMIT));
  });
});

Deno.test("api: /api/experiment/:cid has the record, verification state and events", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const a1 = (await get(app, `/api/experiment/${g.a1.id}`)).body;
    assert.equal(a1.id, g.a1.id);
    assert.equal(a1.diff, g.a1.diff);
    assert.equal(a1.node_display_name, "Alice <script>x</script>");
    assert.equal(a1.verified, true);
    assert.equal(a1.is_frontier, false);
    assert.equal(a1.child_count, 2);
    assert.equal(a1.event.length, 1);
    assert.equal(a1.event[0].type, "verification");
    assert.equal(a1.event[0].payload.verifier_id, NODE_IDS[2]);
    const a2 = (await get(app, `/api/experiment/${g.a2.id}`)).body;
    assert.equal(a2.verified, false);
    assert.equal(a2.is_frontier, true);
    assert.deepEqual(a2.event, []);
  });
});

Deno.test("api: code_available says whether the store holds an experiment's code", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const held = (await get(app, `/api/experiment/${g.a1.id}`)).body;
    assert.equal(held.code_available, true);
    assert.equal((await get(app, `/api/artifact/${g.a1.code_cid}/raw`)).status, 200);

    // A record whose code no one here holds: no download link to offer.
    const code = new TextEncoder().encode("print('elsewhere')\n");
    const cid = sha256Hex(code);
    const missing = makeRecord({ code_cid: cid, key: 1 });
    node.receive(missing);
    assert.equal((await get(app, `/api/experiment/${missing.id}`)).body.code_available, false);

    // Fetched from a peer (the page loads the code that way), it is stored: now available.
    node.remoteArtifacts.set(cid, code);
    assert.equal((await get(app, `/api/artifact/${cid}`)).status, 200);
    assert.equal((await get(app, `/api/experiment/${missing.id}`)).body.code_available, true);

    // A damaged file on disk is not "held": its bytes no longer hash to the cid.
    const path = join(node.stores.artifacts.dir, cid.slice(0, 2), cid.slice(2, 4), cid);
    await Deno.writeTextFile(path, "print('tampered')\n");
    assert.equal((await get(app, `/api/experiment/${missing.id}`)).body.code_available, false);
  });
});

Deno.test("api: ancestors (nearest first) and children, paged", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    assert.deepEqual(ids((await get(app, `/api/experiment/${g.a2.id}/ancestor`)).body), [
      g.a1.id,
      g.root.id,
    ]);
    const p = await get(app, `/api/experiment/${g.a2.id}/ancestor?limit=1&offset=1`);
    assert.deepEqual(ids(p.body), [g.root.id]);
    assert.deepEqual((await get(app, `/api/experiment/${g.root.id}/ancestor`)).body, []);
    assert.deepEqual(ids((await get(app, `/api/experiment/${g.root.id}/children`)).body), [
      g.a1.id,
      g.b1.id,
    ]);
    const c = await get(app, `/api/experiment/${g.root.id}/children?limit=1`);
    assert.deepEqual(ids(c.body), [g.a1.id]);
    assert.equal(c.headers.get("x-next-offset"), "1");
    assert.deepEqual((await get(app, `/api/experiment/${g.a2.id}/children`)).body, []);
  });
});

Deno.test("api: ancestor walk stops at a parent that has not arrived", async () => {
  await withNode(async (node) => {
    const missing = makeRecord();
    const orphan = makeRecord({ parent: missing });
    const child = makeRecord({ parent: orphan });
    node.stores.graph.insertMany([orphan, child]);
    const { body } = await get(createApp(node), `/api/experiment/${child.id}/ancestor`);
    assert.deepEqual(ids(body), [orphan.id]);
  });
});

Deno.test("api: node experiments, reputation and profile", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const exp = await get(app, `/api/node/${NODE_IDS[1]}/experiment`);
    assert.deepEqual(ids(exp.body), [g.a2.id, g.a1.id]);
    const p = await get(app, `/api/node/${NODE_IDS[1]}/experiment?limit=1&offset=1`);
    assert.deepEqual(ids(p.body), [g.a1.id]);
    const rep = (await get(app, `/api/node/${NODE_IDS[2]}/reputation`)).body;
    assert.equal(rep.node_id, NODE_IDS[2]);
    assert.equal(rep.score, 0.5);
    assert.equal(rep.verifications_performed, 1);
    const prof = (await get(app, `/api/node/${NODE_IDS[2]}/profile`)).body;
    assert.equal(prof.display_name, "Bob");
    assert.equal(prof.donation_address, "bc1qexample2");
  });
});

Deno.test("api: unknown node answers 404, except reputation (zeros by contract)", async () => {
  await withNode(async (node) => {
    await seedGraph(node);
    const app = createApp(node);
    const stranger = "f".repeat(64);
    const exp = await get(app, `/api/node/${stranger}/experiment`);
    assert.equal(exp.status, 404);
    assert.equal(exp.body.error, "unknown node");
    assert.equal((await get(app, `/api/node/${stranger}/profile`)).status, 404);
    const rep = await get(app, `/api/node/${stranger}/reputation`);
    assert.equal(rep.status, 200);
    assert.deepEqual(rep.body, {
      node_id: stranger,
      score: 0,
      experiments_published: 0,
      experiments_verified: 0,
      verifications_performed: 0,
      disputes_won: 0,
      disputes_lost: 0,
    });
    // A node known only by reputation (a verifier that published nothing) lists no experiments.
    assert.deepEqual((await get(app, `/api/node/${NODE_IDS[2]}/experiment?offset=5`)).body, []);
  });
});

Deno.test("api: search by id prefix, description, node, gpu and display name", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const q = async (s: string) =>
      ids((await get(app, `/api/search?q=${encodeURIComponent(s)}`)).body);
    assert.deepEqual(await q(g.a2.id.slice(0, 10)), [g.a2.id]);
    assert.deepEqual(await q("LEARNING rate"), [g.a1.id]);
    assert.deepEqual(await q(NODE_IDS[3]!.slice(0, 12)), [g.rtx.id]);
    assert.deepEqual(await q("4090"), [g.rtx.id]);
    assert.deepEqual(await q("bob"), [g.c1.id, g.b1.id]);
    assert.deepEqual(await q("100%"), []);
    const limited = (await get(app, "/api/search?q=a&limit=2")).body;
    assert.equal(limited.length, 2);
  });
});

Deno.test("api: leaderboard rows carry display names and page", async () => {
  await withNode(async (node) => {
    await seedGraph(node);
    const app = createApp(node);
    const rows = (await get(app, "/api/leaderboard")).body;
    assert.deepEqual(rows.map((r: Json) => [r.node_id, r.score, r.display_name]), [
      [NODE_IDS[1], 1, "Alice <script>x</script>"],
      [NODE_IDS[2], 0.5, "Bob"],
    ]);
    const p = await get(app, "/api/leaderboard?limit=1&offset=1");
    assert.deepEqual(p.body.map((r: Json) => r.node_id), [NODE_IDS[2]]);
    node.stores.reputation.recordPublish(NODE_IDS[3]!, "x");
    const withAnon = (await get(app, "/api/leaderboard")).body;
    assert.equal(withAnon.find((r: Json) => r.node_id === NODE_IDS[3]).display_name, null);
  });
});

Deno.test("api: artifacts come from the store, else from peers (hash-checked), else 404", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const local = await get(app, `/api/artifact/${g.a1.code_cid}`);
    assert.equal(local.status, 200);
    assert.deepEqual(local.body, {
      cid: g.a1.code_cid,
      content: new TextDecoder().decode(g.code),
      size: g.code.length,
    });
    const remoteBytes = new Uint8Array([0xff, 0xfe, 0x00, 0x41]);
    const { sha256Hex } = await import("../../src/protocol/mod.ts");
    const remoteCid = sha256Hex(remoteBytes);
    node.remoteArtifacts.set(remoteCid, remoteBytes);
    const remote = await get(app, `/api/artifact/${remoteCid}`);
    assert.equal(remote.status, 200);
    assert.equal(remote.body.encoding, "base64");
    assert.equal(remote.body.content, btoa(String.fromCharCode(...remoteBytes)));
    assert.equal(await node.stores.artifacts.has(remoteCid), true, "fetched artifact is stored");
    // A peer answering with the wrong bytes is refused.
    const lieCid = "1".repeat(64);
    node.remoteArtifacts.set(lieCid, new TextEncoder().encode("not it"));
    assert.equal((await get(app, `/api/artifact/${lieCid}`)).status, 404);
    assert.equal((await get(app, `/api/artifact/${"2".repeat(64)}`)).status, 404);
  });
});

Deno.test("api: bad parameters answer 400 with a JSON error, never 500", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const app = createApp(node);
    const bad = [
      "/api/recent?limit=0",
      "/api/recent?limit=-1",
      "/api/recent?limit=abc",
      "/api/recent?limit=1.5",
      "/api/recent?limit=1e3",
      "/api/recent?offset=-3",
      "/api/recent?offset=99999999999",
      "/api/frontier?limit=%00",
      `/api/frontier?gpu=${"x".repeat(65)}`,
      "/api/experiment/abc",
      `/api/experiment/${g.a1.id.toUpperCase()}`,
      `/api/experiment/${g.a1.id}0`,
      "/api/experiment/..%2F..%2Fetc%2Fpasswd",
      `/api/experiment/${"z".repeat(64)}/ancestor`,
      `/api/experiment/${g.a1.id}/ancestor?offset=100000`,
      `/api/experiment/${g.a1.id}/children?limit=x`,
      "/api/node/1234/experiment",
      "/api/node/1234/reputation",
      "/api/node/%F0%9F%98%80/profile",
      "/api/search",
      "/api/search?q=%20%20",
      `/api/search?q=${"a".repeat(257)}`,
      "/api/leaderboard?limit=ten",
      "/api/artifact/not-a-cid",
      "/api/graph?view=everything",
      "/api/graph?fields=some",
      "/api/graph?view=full&gpu=H100",
      "/api/graph?view=full&limit=0",
    ];
    for (const path of bad) {
      const res = await get(app, path);
      assert.equal(res.status, 400, path);
      assert.equal(typeof res.body.error, "string", path);
      assert.ok(res.body.error.length > 0, path);
    }
  });
});

Deno.test("api: unknown ids and endpoints answer 404 with a JSON error", async () => {
  await withNode(async (node) => {
    await seedGraph(node);
    const app = createApp(node);
    const unknown = "e".repeat(64);
    for (
      const path of [
        `/api/experiment/${unknown}`,
        `/api/experiment/${unknown}/ancestor`,
        `/api/experiment/${unknown}/children`,
        "/api/nothing",
        "/api/stat/extra",
      ]
    ) {
      const res = await get(app, path);
      assert.equal(res.status, 404, path);
      assert.equal(typeof res.body.error, "string", path);
    }
  });
});

Deno.test("api: every response carries the strict security headers", async () => {
  await withNode(async (node) => {
    const app = createApp(node);
    for (const path of ["/api/stat", "/api/experiment/abc", "/"]) {
      const res = await app.request(path);
      await res.body?.cancel();
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.ok(csp.includes("default-src 'none'"), path);
      assert.ok(csp.includes("script-src 'self'"), path);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("x-frame-options"), "DENY");
    }
  });
});

Deno.test("api: a failing store answers 500 with a generic JSON error, no internals", async () => {
  await withNode(async (node) => {
    const app = createApp(node);
    const graph = node.stores.graph;
    const original = graph.stats;
    graph.stats = () => {
      throw new Error("SQLITE_CORRUPT at /secret/path/graph.sqlite");
    };
    const errors: string[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => errors.push(args.join(" "));
    try {
      const res = await get(app, "/api/stat");
      assert.equal(res.status, 500);
      assert.deepEqual(res.body, { error: "internal error" });
      assert.ok(errors.some((e) => e.includes("SQLITE_CORRUPT")), "the cause is logged locally");
    } finally {
      console.error = consoleError;
      graph.stats = original;
    }
  });
});

Deno.test("api: list endpoints cut long text fields; the experiment page sends them whole", async () => {
  await withNode(async (node) => {
    const diff = "+x = 1\n".repeat(4000); // 28,000 characters, within the record limit
    const description = "d".repeat(5000);
    const rec = makeRecord({ diff, description, hypothesis: "short" });
    node.stores.graph.insert(rec);
    const app = createApp(node);
    for (const path of ["/api/graph", "/api/recent", `/api/node/${rec.node_id}/experiment`]) {
      const { body } = await get(app, path);
      const rows = (Array.isArray(body) ? body : body.node) as Json[];
      const row = rows.find((r) => r.id === rec.id)!;
      assert.equal((row.diff as string).length, 8 * 1024, path);
      assert.equal((row.description as string).length, 1024, path);
      assert.equal(row.hypothesis, "short", path);
      assert.deepEqual(row.truncated, ["diff", "description"], path);
    }
    const summary = await get(app, "/api/graph?fields=summary");
    assert.equal(((summary.body.node as Json[])[0]!.description as string).length, 1024);
    const full = await get(app, `/api/experiment/${rec.id}`);
    assert.equal(full.body.diff, diff);
    assert.equal(full.body.description, description);
    assert.equal(full.body.truncated, undefined);
  });
});

Deno.test("api: /api/classes lists research classes; /api/frontier?class= keeps one", async () => {
  await withNode(async (node) => {
    const g = await seedGraph(node);
    const embedded = await embeddedClasses();
    const ours = makeRecord({
      val_bpb: 2.1,
      dataset_cid: SYNTHETIC_DATASET_CID,
      prepare_cid: embedded[0]!.prepareCid,
    });
    node.stores.graph.insert(ours);
    const app = createApp(node);
    const { status, body } = await get(app, "/api/classes");
    assert.equal(status, 200);
    const climb = `climbmix-400b-shuffle/${"ab".repeat(32)}`;
    assert.deepEqual(body.map((c: Json) => [c.class, c.name, c.experiment_count]), [
      [climb, `climbmix-400b-shuffle/${"ab".repeat(6)}`, 6],
      [`${SYNTHETIC_DATASET_CID}/${embedded[0]!.prepareCid}`, "spore-synthetic", 1],
    ]);
    const mine = await get(
      app,
      `/api/frontier?class=${SYNTHETIC_DATASET_CID}/${embedded[0]!.prepareCid}`,
    );
    assert.deepEqual(ids(mine.body), [ours.id]);
    const theirs = await get(app, `/api/frontier?class=${climb}`);
    assert.deepEqual(new Set(ids(theirs.body)), new Set(g.frontier));
    assert.equal((await get(app, "/api/frontier?class=nonsense")).status, 400);
  });
});
