/**
 * Why dials fail and why connections end is never silent: each reaches the log (per component)
 * and the `peer down` event, and the last dial failure per address stays queryable.
 */
import assert from "node:assert/strict";
import type { NodeEvent } from "../../src/node_types.ts";
import { classifyDialError } from "../../src/net/transport.ts";
import { MemoryLogger, startNode, waitFor } from "./helpers.ts";

type PeerEvent = Extract<NodeEvent, { kind: "peer" }>;

/** A loopback port nothing listens on (bound by the OS, then released). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("a failed dial says why (DNS, refused) in the log, the peer event and dialFailures", async () => {
  const refused = `127.0.0.1:${closedPort()}`;
  const unresolvable = "nonexistent.invalid:7470";
  const log = new MemoryLogger();
  const t = await startNode({ peers: [unresolvable, refused], log: log.logger });
  const events: PeerEvent[] = [];
  t.node.events.on((e) => {
    if (e.kind === "peer") events.push(e);
  });
  try {
    const failure = (address: string) =>
      t.node.network.dialFailures().find((f) => f.address === address);
    const event = (address: string) => events.find((e) => e.address === address);
    await waitFor(
      () => !!(failure(refused) && failure(unresolvable) && event(refused) && event(unresolvable)),
      "both dials to fail and be reported",
      30_000,
    );
    for (const [address, kind] of [[refused, "refused"], [unresolvable, "dns"]] as const) {
      const f = failure(address)!;
      assert.equal(f.kind, kind, `${address}: ${f.error}`);
      assert.ok(f.at > 0 && f.at <= Date.now());
      const e = event(address)!;
      assert.equal(e.state, "down");
      assert.equal(e.dialError, kind);
      assert.ok(e.reason && e.reason.length > 0, "the event says why");
      const logged = log.find("dial failed").filter((l) => l.fields.address === address);
      assert.ok(logged.length > 0, `${address}: no "dial failed" log entry`);
      assert.equal(logged[0]!.level, "info");
      assert.equal(logged[0]!.fields.part, "net:dial");
      assert.equal(logged[0]!.fields.kind, kind);
      assert.equal(logged[0]!.fields.error, f.error);
      assert.equal(e.reason, f.error);
    }
    assert.match(failure(refused)!.error, /^connection refused/);
    assert.match(failure(unresolvable)!.error, /^name lookup failed/);
  } finally {
    await t.stop();
  }
});

Deno.test("a peer that goes away: the peer down event and the log carry the close reason", async () => {
  const logA = new MemoryLogger();
  const a = await startNode({ log: logA.logger });
  const b = await startNode();
  const events: PeerEvent[] = [];
  a.node.events.on((e) => {
    if (e.kind === "peer") events.push(e);
  });
  let bStopped = false;
  try {
    b.node.network.connect(a.address);
    await waitFor(() => events.some((e) => e.state === "up"), "b to come up on a");
    await b.stop();
    bStopped = true;
    await waitFor(() => events.some((e) => e.state === "down"), "b to go down on a");
    const down = events.find((e) => e.state === "down")!;
    assert.equal(down.nodeId, b.keys.nodeId);
    assert.equal(down.dialError, undefined, "not a dial failure");
    // b closed its socket: a read end-of-stream (or a reset, depending on timing).
    assert.match(down.reason ?? "", /peer closed the connection|read failed/);
    const closed = logA.find("connection closed").find((l) => l.fields.node_id === b.keys.nodeId);
    assert.ok(closed, "the close is logged");
    assert.equal(closed.fields.reason, down.reason);
    assert.equal(closed.fields.part, "net");
  } finally {
    if (!bStopped) await b.stop();
    await a.stop();
  }
});

Deno.test("dial errors are classified by their class, not their text", () => {
  assert.equal(classifyDialError(new Deno.errors.ConnectionRefused("x"), "10.0.0.1"), "refused");
  assert.equal(classifyDialError(new Deno.errors.TimedOut("x"), "example.org"), "timeout");
  assert.equal(
    classifyDialError(new Deno.errors.NetworkUnreachable("x"), "10.0.0.1"),
    "unreachable",
  );
  // A failed lookup is a plain Error (Deno gives it no class): a lookup only happens for names.
  assert.equal(classifyDialError(new Error("anything at all"), "peer.example"), "dns");
  assert.equal(classifyDialError(new Error("anything at all"), "10.0.0.1"), "other");
  assert.equal(classifyDialError(new Error("anything at all"), "::1"), "other");
  assert.equal(classifyDialError(new Deno.errors.ConnectionReset("x"), "peer.example"), "other");
});
