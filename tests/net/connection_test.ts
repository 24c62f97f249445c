import assert from "node:assert/strict";
import { Connection, type ConnectionLimits, DEFAULT_LIMITS } from "../../src/net/connection.ts";
import type { WireMessage } from "../../src/protocol/mod.ts";
import { RawPeer, waitFor } from "./helpers.ts";

/** A server-side Connection to a raw client, with its events recorded. */
async function pair(limits: Partial<ConnectionLimits>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const clientP = RawPeer.connect(port);
  const tcp = await listener.accept();
  listener.close();
  const client = await clientP;
  const messages: WireMessage[] = [];
  let closeReason = "";
  const conn = new Connection(tcp, {
    inbound: true,
    limits: { ...DEFAULT_LIMITS, ...limits },
    now: Date.now,
    events: {
      onMessage: (_c, m) => void messages.push(m),
      onClose: (_c, reason) => void (closeReason = reason),
    },
  });
  const done = conn.start();
  const timer = setInterval(() => conn.tick(Date.now()), 20);
  return {
    conn,
    client,
    messages,
    reason: () => closeReason,
    async stop() {
      clearInterval(timer);
      conn.close();
      await done;
      await client.close();
    },
  };
}

Deno.test("a peer that stops reading is dropped once its write queue is full", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
  }); // never read from: the kernel buffers fill, then our queue does
  const tcp = await listener.accept();
  listener.close();
  let reason = "";
  const conn = new Connection(tcp, {
    inbound: true,
    limits: { ...DEFAULT_LIMITS, maxQueuedBytes: 1024 * 1024 },
    now: Date.now,
    events: { onMessage: () => {}, onClose: (_c, r) => void (reason = r) },
  });
  const done = conn.start();
  try {
    const big = JSON.stringify({ type: "x", payload: { pad: "p".repeat(64 * 1024) } });
    let sent = 0;
    while (!conn.closed && sent < 10_000) {
      conn.send(big);
      sent++;
      // Yield so the writer drains into the socket until the kernel stops taking bytes.
      await new Promise((r) => setTimeout(r, 0));
    }
    assert.ok(conn.closed, "closed before unbounded growth");
    assert.ok(sent > 16, "the socket took data before the queue filled");
    assert.match(reason, /too slow/);
    assert.equal(conn.queuedBytes, 0);
  } finally {
    conn.close();
    await done;
    client.close();
  }
});

Deno.test("ping keepalive is sent and answered; silence past the idle timeout closes", async () => {
  const p = await pair({ pingIntervalMs: 50, idleTimeoutMs: 400, handshakeTimeoutMs: 10_000 });
  try {
    await waitFor(() => p.client.received.some((m) => m.type === "ping"), "a ping");
    await p.client.sendJson('{"type":"ping","payload":{}}');
    await waitFor(() => p.client.received.some((m) => m.type === "pong"), "a pong");
    await p.client.sendJson('{"type":"pex_request","payload":{}}');
    await waitFor(() => p.messages.length === 1, "the message");
    assert.equal(p.messages[0]!.type, "pex_request");
    await waitFor(() => p.conn.closed, "idle timeout", 3000);
    assert.equal(p.reason(), "idle timeout");
  } finally {
    await p.stop();
  }
});
