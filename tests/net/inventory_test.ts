import assert from "node:assert/strict";
import { type IdBatch, Inventory } from "../../src/net/inventory.ts";
import { MAX_RECORD_IDS } from "../../src/protocol/mod.ts";

const id = (n: number) => n.toString(16).padStart(64, "0");

function setup(limits = {}) {
  let now = 0;
  const have = new Set<string>();
  const state = { busy: false };
  const inv = new Inventory<string>({
    now: () => now,
    has: (x) => have.has(x),
    busy: () => state.busy,
    limits: { requestTimeoutMs: 1000, ...limits },
  });
  return {
    inv,
    have,
    state,
    advance: (ms: number) => (now += ms),
  };
}

const asObject = (batches: IdBatch<string>[]) =>
  Object.fromEntries(batches.map((b) => [b.peer, b.ids]));

Deno.test("stored records are announced once to each peer that does not have them", () => {
  const { inv } = setup();
  for (const p of ["a", "b", "c"]) inv.addPeer(p);
  inv.announced("c", [id(2)]); // c has id 2
  inv.stored([id(1), id(2)], "a"); // a sent both bodies
  assert.equal(inv.queued, 3);
  assert.deepEqual(asObject(inv.takeAnnouncements()), { b: [id(1), id(2)], c: [id(1)] });
  assert.equal(inv.queued, 0);
  // Stored again (another copy): nobody is told twice.
  inv.stored([id(1)], null);
  assert.deepEqual(inv.takeAnnouncements(), []);
  assert.equal(inv.stats.announcedOut, 3);
});

Deno.test("announcements are split into messages of at most MAX_RECORD_IDS ids", () => {
  const { inv } = setup();
  inv.addPeer("a");
  const ids = Array.from({ length: MAX_RECORD_IDS + 5 }, (_, i) => id(i));
  inv.stored(ids, null);
  const out = inv.takeAnnouncements();
  assert.deepEqual(out.map((b) => b.ids.length), [MAX_RECORD_IDS, 5]);
});

Deno.test("an announced id is requested from one announcer only, and not when held", () => {
  const { inv, have } = setup();
  for (const p of ["a", "b"]) inv.addPeer(p);
  have.add(id(9));
  assert.deepEqual(asObject(inv.announced("a", [id(1), id(9)])), { a: [id(1)] });
  // b announces the same id while a's request is in flight: no second request.
  assert.deepEqual(inv.announced("b", [id(1)]), []);
  assert.equal(inv.wanted, 1);
  inv.stored([id(1)], "a");
  assert.equal(inv.wanted, 0);
  // Neither a nor b is told about it: both have it.
  assert.deepEqual(inv.takeAnnouncements(), []);
});

Deno.test("a request that times out goes to the next announcer", () => {
  const { inv, advance } = setup();
  for (const p of ["silent", "good"]) inv.addPeer(p);
  inv.announced("silent", [id(1)]);
  inv.announced("good", [id(1)]);
  advance(999);
  assert.deepEqual(inv.expire(), []);
  advance(2);
  assert.deepEqual(asObject(inv.expire()), { good: [id(1)] });
  assert.equal(inv.stats.timeouts, 1);
  // good is slow too: the silent one gets another turn.
  advance(1001);
  assert.deepEqual(asObject(inv.expire()), { silent: [id(1)] });
  inv.stored([id(1)], "good");
  assert.equal(inv.wanted, 0);
  assert.equal(inv.stats.gaveUp, 0);
});

Deno.test("a peer still delivering keeps all its requests alive past their deadline", () => {
  const { inv, advance } = setup();
  for (const p of ["slow", "other"]) inv.addPeer(p);
  inv.announced("slow", [id(1), id(2), id(3)]);
  inv.announced("other", [id(1), id(2), id(3)]);
  advance(900);
  inv.bodyArrived("slow", id(1));
  advance(900);
  assert.deepEqual(inv.expire(), []);
  // Then silence: what is still missing goes to the other announcer.
  inv.stored([id(1)], "slow");
  advance(1000);
  assert.deepEqual(asObject(inv.expire()), { other: [id(2), id(3)] });
});

Deno.test("an id waiting for room is asked of the next announcer that has room", () => {
  const { inv } = setup({ maxInFlightPerPeer: 1 });
  for (const p of ["a", "b"]) inv.addPeer(p);
  assert.deepEqual(asObject(inv.announced("a", [id(1), id(2)])), { a: [id(1)] });
  assert.deepEqual(asObject(inv.announced("b", [id(2)])), { b: [id(2)] });
});

Deno.test("no request times out while this node is the slow side", () => {
  const { inv, advance, state } = setup();
  for (const p of ["a", "b"]) inv.addPeer(p);
  inv.announced("a", [id(1)]);
  inv.announced("b", [id(1)]);
  state.busy = true;
  advance(5000);
  assert.deepEqual(inv.expire(), []);
  state.busy = false;
  advance(999);
  assert.deepEqual(inv.expire(), []);
  advance(2);
  assert.deepEqual(asObject(inv.expire()), { b: [id(1)] });
});

Deno.test("with every announcer gone or failed, a wanted id is given up", () => {
  const { inv, advance } = setup({ maxAttempts: 3 });
  for (const p of ["a", "b"]) inv.addPeer(p);
  inv.announced("a", [id(1)]);
  inv.announced("b", [id(1)]);
  // a disconnects: b gets asked at once.
  assert.deepEqual(asObject(inv.removePeer("a")), { b: [id(1)] });
  // b never answers: asked again in turn, until the attempts run out.
  for (let i = 1; i < 3; i++) {
    advance(1001);
    assert.deepEqual(asObject(inv.expire()), { b: [id(1)] });
  }
  advance(1001);
  assert.deepEqual(inv.expire(), []);
  assert.equal(inv.wanted, 0);
  assert.equal(inv.stats.gaveUp, 1);
  // The last announcer leaving gives an id up at once.
  inv.announced("b", [id(2)]);
  assert.deepEqual(inv.removePeer("b"), []);
  assert.equal(inv.stats.gaveUp, 2);
});

Deno.test("a peer's in-flight ids are bounded; the rest are asked once there is room", () => {
  const { inv } = setup({ maxInFlightPerPeer: 2 });
  inv.addPeer("a");
  assert.deepEqual(asObject(inv.announced("a", [id(1), id(2), id(3)])), { a: [id(1), id(2)] });
  assert.deepEqual(inv.expire(), []); // still no room
  // The moment one is stored, the waiting one is asked for.
  assert.deepEqual(asObject(inv.stored([id(1)], "a")), { a: [id(3)] });
  assert.deepEqual(inv.expire(), []);
});

Deno.test("wanted ids are bounded; the overflow is counted", () => {
  const { inv } = setup({ maxWanted: 2 });
  inv.addPeer("a");
  inv.announced("a", [id(1), id(2), id(3)]);
  assert.equal(inv.wanted, 2);
  assert.equal(inv.stats.overflow, 1);
  // id 3 was never asked for, so a's marks can no longer be trusted to cover it.
  inv.stored([id(1), id(2)], "a");
  let applied = false;
  inv.mark("a", () => (applied = true));
  assert.equal(applied, false);
});

Deno.test("an id stored meanwhile is not requested when its turn comes", () => {
  const { inv } = setup({ maxInFlightPerPeer: 1 });
  inv.addPeer("a");
  inv.announced("a", [id(1), id(2)]);
  inv.stored([id(2)], null); // arrived by sync, say
  assert.equal(inv.wanted, 1);
  assert.deepEqual(inv.stored([id(1)], "a"), []);
  assert.deepEqual(inv.expire(), []);
  assert.equal(inv.wanted, 0);
});

Deno.test("a sync mark waits for what its peer announced, and a failed peer's marks are ignored", () => {
  const { inv, advance } = setup();
  for (const p of ["a", "b"]) inv.addPeer(p);
  const applied: string[] = [];
  inv.mark("a", () => applied.push("a0"));
  assert.deepEqual(applied, ["a0"]); // nothing outstanding: at once
  inv.announced("a", [id(1)]);
  inv.mark("a", () => applied.push("a1"));
  inv.mark("a", () => applied.push("a2")); // replaces a1
  assert.deepEqual(applied, ["a0"]);
  inv.stored([id(1)], "a");
  assert.deepEqual(applied, ["a0", "a2"]);

  inv.announced("b", [id(2)]);
  inv.mark("b", () => applied.push("b1"));
  advance(1001);
  inv.expire(); // b never delivered
  inv.mark("b", () => applied.push("b2"));
  assert.deepEqual(applied, ["a0", "a2"]);
  // A peer without the feature: its marks apply as before.
  inv.mark("python", () => applied.push("p"));
  assert.deepEqual(applied, ["a0", "a2", "p"]);
});

Deno.test("a peer asking for records is not told about them again", () => {
  const { inv } = setup();
  inv.addPeer("a");
  inv.requestedBy("a", [id(1)]);
  inv.stored([id(1), id(2)], null);
  assert.deepEqual(asObject(inv.takeAnnouncements()), { a: [id(2)] });
});

Deno.test("announcements from an unknown peer are ignored", () => {
  const { inv } = setup();
  assert.deepEqual(inv.announced("nobody", [id(1)]), []);
  assert.equal(inv.wanted, 0);
});
