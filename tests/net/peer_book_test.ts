import assert from "node:assert/strict";
import { PeerBook } from "../../src/net/peer_book.ts";

const backoff = { baseMs: 1000, maxMs: 8000 };

Deno.test("bootstrap peers are used only when none is configured", () => {
  const withPeers = new PeerBook({
    configured: ["10.0.0.1:7470"],
    bootstrap: ["boot.example:7470"],
    known: [],
    backoff,
    targetOutbound: 8,
  });
  assert.deepEqual(withPeers.due(0, 0, new Set()), ["10.0.0.1:7470"]);
  const alone = new PeerBook({
    configured: [],
    bootstrap: ["boot.example:7470"],
    known: ["bad address", "10.0.0.2:7470"],
    backoff,
    targetOutbound: 8,
  });
  assert.deepEqual(alone.due(0, 0, new Set()), ["boot.example:7470", "10.0.0.2:7470"]);
  assert.deepEqual(alone.discovered(), ["10.0.0.2:7470"]);
});

Deno.test("failed dials back off exponentially; identified peers reset the backoff", () => {
  const book = new PeerBook({
    configured: ["10.0.0.1:7470"],
    bootstrap: [],
    known: [],
    backoff,
    targetOutbound: 8,
    random: () => 0,
  });
  const a = "10.0.0.1:7470";
  book.dialing(a);
  assert.deepEqual(book.due(0, 0, new Set()), [], "not while dialing");
  book.failed(a, 0); // next at 500
  assert.deepEqual(book.due(499, 0, new Set()), []);
  assert.deepEqual(book.due(500, 0, new Set()), [a]);
  book.failed(a, 500); // 2nd failure: +1000
  assert.deepEqual(book.due(1499, 0, new Set()), []);
  assert.deepEqual(book.due(1500, 0, new Set()), [a]);
  book.connected(a);
  book.identified(a, "n1");
  book.disconnected(a, 2000); // failures back to 1: +500
  assert.deepEqual(book.due(2500, 0, new Set()), [a]);
  assert.deepEqual(book.due(2500, 0, new Set(["n1"])), [], "its node is connected elsewhere");
  book.markSelf(a);
  assert.deepEqual(book.due(1e9, 0, new Set()), [], "ourselves: never again");
});

Deno.test("discovered peers are dialed only up to the outbound target and capped in number", () => {
  const book = new PeerBook({
    configured: [],
    bootstrap: [],
    known: [],
    backoff,
    targetOutbound: 2,
  });
  for (let i = 1; i <= 1500; i++) book.add(`10.0.${i >> 8}.${i & 255}:7470`, "discovered");
  assert.equal(book.discovered().length, 1000);
  assert.equal(book.due(0, 0, new Set()).length, 2);
  assert.equal(book.due(0, 2, new Set()).length, 0);
  assert.equal(book.add("not an address", "discovered"), false);
});

Deno.test("discovered peers fill the outbound target from the least-used address groups", () => {
  const book = new PeerBook({
    configured: [],
    bootstrap: [],
    // A PEX flood from one /24 listed first, then two other groups.
    known: ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.1.1:1", "10.0.2.1:1"],
    backoff,
    targetOutbound: 3,
  });
  assert.deepEqual(book.due(0, 0, new Set()), ["10.0.0.1:1", "10.0.1.1:1", "10.0.2.1:1"]);
});

Deno.test("dials in flight count toward the outbound target: PEX never overshoots it", () => {
  const book = new PeerBook({
    configured: [],
    bootstrap: [],
    known: ["10.0.0.1:1", "10.0.1.1:1", "10.0.2.1:1"],
    backoff,
    targetOutbound: 2,
  });
  const first = book.due(0, 0, new Set());
  assert.equal(first.length, 2);
  for (const a of first) book.dialing(a);
  // Next tick, nothing connected yet: still no room.
  assert.deepEqual(book.due(1, 0, new Set()), []);
  book.connected(first[0]!);
  book.failed(first[1]!, 1);
  // One connected (counted by the caller as outbound), one failed and backing off.
  assert.deepEqual(book.due(2, 1, new Set()), ["10.0.2.1:1"]);
});
