/** The real server: port search, live events over /ws, origin check, shutdown, static files. */
import assert from "node:assert/strict";
import { startExplorer } from "../../src/explorer/server.ts";
import { LiveHub, MAX_WS_CLIENTS } from "../../src/explorer/live.ts";
import { StaticFiles } from "../../src/explorer/static_files.ts";
import { makeProfile, makeRecord, NODE_IDS, seedGraph, withNode } from "./helpers.ts";

/** Open a WebSocket and collect its messages. */
async function connect(
  url: string,
): Promise<{ ws: WebSocket; messages: unknown[]; next(): Promise<unknown> }> {
  const ws = new WebSocket(url);
  const messages: unknown[] = [];
  let waiter: ((m: unknown) => void) | undefined;
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    messages.push(m);
    waiter?.(m);
    waiter = undefined;
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("websocket failed to open"));
  });
  return {
    ws,
    messages,
    next: () => new Promise((resolve) => (waiter = resolve)),
  };
}

async function closeSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = new Promise((resolve) => (ws.onclose = resolve));
  ws.close();
  await closed;
}

Deno.test("server: binds 127.0.0.1 and moves to the next port when one is taken", async () => {
  await withNode(async (node) => {
    const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const taken = (blocker.addr as Deno.NetAddr).port;
    try {
      const ex = await startExplorer(node, { host: "127.0.0.1", port: taken, portSearch: 5 });
      try {
        assert.notEqual(ex.port, taken);
        assert.ok(ex.port > taken && ex.port < taken + 5);
        assert.equal(ex.url, `http://127.0.0.1:${ex.port}/`);
        const res = await fetch(`${ex.url}api/stat`);
        assert.equal(res.status, 200);
        assert.equal((await res.json()).node_id, NODE_IDS[0]);
      } finally {
        await ex.close();
      }
      await assert.rejects(
        startExplorer(node, { host: "127.0.0.1", port: taken, portSearch: 1 }),
        /all in use/,
      );
    } finally {
      blocker.close();
    }
  });
});

Deno.test("server: /ws pushes experiment, profile, control and peer events live", async () => {
  await withNode(async (node) => {
    await seedGraph(node);
    const ex = await startExplorer(node, { host: "127.0.0.1", port: 0 });
    const client = await connect(`ws://127.0.0.1:${ex.port}/ws`);
    try {
      const stat = await (await fetch(`${ex.url}api/stat`)).json();
      assert.equal(stat.ws_client, 1);
      assert.equal(node.listenerCount, 1);

      const rec = makeRecord({ key: 1, val_bpb: 0.9, description: "gossiped" });
      let msg = client.next();
      node.receive(rec);
      assert.deepEqual(await msg, {
        type: "experiment",
        data: {
          ...rec,
          node_display_name: "Alice <script>x</script>",
          gpu_class: "NVIDIA_H100_80GB_HBM3", // the Python node's class of this device name
          source: "peer",
        },
      });

      const profile = makeProfile(3, "Carol");
      msg = client.next();
      node.emit({ kind: "profile", profile });
      assert.deepEqual(await msg, { type: "profile", data: profile });

      const payload = {
        event_id: `dispute:${rec.id}:${NODE_IDS[2]}`,
        experiment_id: rec.id,
        original_node_id: NODE_IDS[1]!,
        challenger_id: NODE_IDS[2]!,
        challenger_bpb: 0.95,
        outcome: "rejected" as const,
        ground_truth_bpb: 0.95,
        verifier_count: 2,
      };
      msg = client.next();
      node.emit({ kind: "control", event: { type: "dispute", payload } });
      // An unsigned dispute is relayed to the page marked as refused, never as an outcome.
      assert.deepEqual(await msg, { type: "dispute", data: { ...payload, state: "refused" } });

      msg = client.next();
      node.emit({ kind: "peer", state: "down", address: "127.0.0.1:7471" });
      assert.deepEqual(await msg, {
        type: "peer",
        data: { state: "down", address: "127.0.0.1:7471", node_id: null },
      });
    } finally {
      await closeSocket(client.ws);
      await ex.close();
    }
    assert.equal(node.listenerCount, 0, "the hub stops listening once no page is connected");
  });
});

Deno.test("server: a cross-origin WebSocket upgrade is refused", async () => {
  await withNode(async (node) => {
    const ex = await startExplorer(node, { host: "127.0.0.1", port: 0 });
    try {
      const res = await fetch(`${ex.url}ws`, {
        headers: {
          origin: "http://evil.example",
          upgrade: "websocket",
          connection: "Upgrade",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          "sec-websocket-version": "13",
        },
      });
      assert.equal(res.status, 403);
      assert.match((await res.json()).error, /cross-origin/);
    } finally {
      await ex.close();
    }
  });
});

Deno.test("server: close() ends live sockets and frees the port", async () => {
  await withNode(async (node) => {
    const ex = await startExplorer(node, { host: "127.0.0.1", port: 0 });
    const client = await connect(`ws://127.0.0.1:${ex.port}/ws`);
    const closed = new Promise<CloseEvent>((resolve) => (client.ws.onclose = resolve));
    await ex.close();
    const ev = await closed;
    assert.equal(ev.code, 1001);
    const again = Deno.listen({ hostname: "127.0.0.1", port: ex.port });
    again.close();
  });
});

Deno.test("live hub: refuses clients past the cap and skips a client that stopped reading", async () => {
  await withNode(async (node) => {
    const hub = new LiveHub(node);
    const sent: string[] = [];
    const closed: number[] = [];
    const fast = { send: (d: string) => sent.push(d), close: () => {}, bufferedAmount: 0 };
    const slow = {
      send: () => assert.fail("slow client must be skipped"),
      close: () => {},
      bufferedAmount: 1e9,
    };
    assert.equal(hub.add(fast), true);
    assert.equal(hub.add(slow), true);
    for (let i = 2; i < MAX_WS_CLIENTS; i++) hub.add({ send: () => {}, close: () => {} });
    assert.equal(
      hub.add({ send: () => {}, close: (code?: number) => closed.push(code ?? 0) }),
      false,
    );
    assert.deepEqual(closed, [1013]);
    node.receive(makeRecord());
    await new Promise((r) => setTimeout(r, 0)); // messages are built asynchronously
    assert.equal(sent.length, 1);
    hub.close();
    assert.equal(hub.size, 0);
    assert.equal(node.listenerCount, 0);
  });
});

Deno.test("static files: serves the UI and refuses anything outside plain names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-static-test-" });
  try {
    await Deno.writeTextFile(`${dir}/index.html`, "<!doctype html><title>x</title>");
    await Deno.mkdir(`${dir}/vendor`);
    await Deno.writeTextFile(`${dir}/vendor/lib.js`, "export {};");
    await Deno.writeTextFile(`${dir}/.secret.js`, "no");
    const files = new StaticFiles(dir);
    assert.equal((await files.get("/"))?.contentType, "text/html; charset=utf-8");
    assert.equal(
      (await files.get("/vendor/lib.js"))?.contentType,
      "text/javascript; charset=utf-8",
    );
    for (
      const p of [
        "/../etc/passwd",
        "/vendor/../index.html",
        "/.secret.js",
        "/index.exe",
        "/missing.js",
        "//etc/x.js",
      ]
    ) {
      assert.equal(await files.get(p), undefined, p);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
