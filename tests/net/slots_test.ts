import assert from "node:assert/strict";
import {
  addressGroup,
  admitInbound,
  DEFAULT_MAX_INBOUND_PER_GROUP,
  RESERVED_OUTBOUND,
  type SlotPeer,
} from "../../src/net/slots.ts";
import { ReceiveBudget } from "../../src/net/receive_budget.ts";

Deno.test("address groups: /24 for IPv4 (mapped too), /64 for IPv6", () => {
  assert.equal(addressGroup("192.168.7.200"), "192.168.7.0/24");
  assert.equal(addressGroup("::ffff:10.1.2.3"), "10.1.2.0/24");
  assert.equal(addressGroup("2001:db8:0:1:aaaa::1"), "2001:db8:0:1::/64");
  assert.equal(addressGroup("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(addressGroup("::1"), "0:0:0:0::/64");
  assert.notEqual(addressGroup("10.0.1.1"), addressGroup("10.0.2.1"));
});

let clock = 0;
function peer(group: string, over: Partial<SlotPeer> = {}): SlotPeer & { name: string } {
  clock++;
  return {
    name: `${group}#${clock}`,
    inbound: true,
    group,
    connectedAt: clock,
    lastNewRecordAt: 0,
    rttMs: Infinity,
    invalidCount: 0,
    bufferedBytes: 0,
    ...over,
  };
}

const limits = { maxInbound: 20, maxInboundPerGroup: 12 };

Deno.test("slots: room is admitted without eviction; outbound peers never count", () => {
  const peers = [
    peer("a"),
    peer("b"),
    ...Array.from({ length: 30 }, () => peer("o", { inbound: false })),
  ];
  assert.deepEqual(admitInbound(peers, "a", limits), { admit: true });
});

Deno.test("slots: a full group evicts its own youngest unprotected peer, never another group's", () => {
  const others = Array.from({ length: 5 }, () => peer("b"));
  const hostile = Array.from({ length: 12 }, () => peer("a"));
  const r = admitInbound([...others, ...hostile], "a", limits);
  assert.ok(r.admit && r.evict);
  assert.equal(r.evict.group, "a");
  assert.equal(r.evict, hostile.at(-1), "the youngest of the group");
});

Deno.test("slots: full in total, the fullest group gives one up; feeders, fast and old peers are protected", () => {
  const feeder = peer("a", { lastNewRecordAt: 1_000 });
  const fast = peer("a", { rttMs: 1 });
  const idle = Array.from({ length: 14 }, () => peer("a"));
  const small = Array.from({ length: 7 }, () => peer("b"));
  const peers = [...small, feeder, fast, ...idle];
  assert.equal(peers.filter((p) => p.inbound).length, 23);
  const r = admitInbound(peers, "c", limits);
  assert.ok(r.admit && r.evict);
  assert.equal(r.evict.group, "a");
  assert.equal(r.evict, idle.at(-1));
  // Everyone in the newcomer's way is protected: it is refused, nobody is evicted.
  const tiny = { maxInbound: 4, maxInboundPerGroup: 4 };
  const kept = [
    peer("x", { lastNewRecordAt: 5 }),
    peer("x", { lastNewRecordAt: 6 }),
    peer("x", { rttMs: 2 }),
    peer("x", { rttMs: 3 }),
  ];
  const refused = admitInbound(kept, "x", tiny);
  assert.equal(refused.admit, false);
});

Deno.test("receive budget: over the limit, the connection holding the most is closed", () => {
  const closed: string[] = [];
  const conn = (name: string) => ({ name, close: (why: string) => closed.push(`${name}: ${why}`) });
  const budget = new ReceiveBudget<ReturnType<typeof conn>>(100);
  const honest = conn("honest");
  const big = conn("big");
  const mid = conn("mid");
  budget.update(honest, 5);
  budget.update(mid, 40);
  budget.update(big, 50);
  assert.deepEqual(closed, []);
  budget.update(big, 70); // 115 > 100
  assert.equal(closed.length, 1);
  assert.match(closed[0]!, /^big: receive budget full/);
  assert.equal(budget.total, 45);
  budget.update(mid, 0);
  assert.equal(budget.total, 5);
  assert.throws(() => new ReceiveBudget(0), RangeError);
});

Deno.test("slots: the defaults let a 30-node loopback mesh form and a client join any node", () => {
  const limits = {
    maxInbound: 64 - RESERVED_OUTBOUND,
    maxInboundPerGroup: DEFAULT_MAX_INBOUND_PER_GROUP,
  };
  const group = addressGroup("127.0.0.1");
  // The busiest node of a mesh: every other node dialed it.
  const peers: SlotPeer[] = [];
  for (let i = 0; i < 29; i++) {
    const r = admitInbound(peers, group, limits);
    assert.deepEqual(r, { admit: true }, `mesh peer ${i + 1} needs no eviction`);
    peers.push(peer("127.0.0.0/24"));
  }
  // A client (explorer, CLI, another node) still gets in, and pushes no mesh peer out.
  assert.deepEqual(admitInbound(peers, group, limits), { admit: true });
});

Deno.test("slots: peers that sent invalid messages are evicted before a quiet newcomer", () => {
  const junk = Array.from({ length: 11 }, (_, i) => peer("a", { invalidCount: i % 3 }));
  const quiet = peer("a"); // the youngest: without the rule, it would be the one to go
  const r = admitInbound([...junk, quiet], "a", limits);
  assert.ok(r.admit && r.evict);
  assert.equal(r.evict.invalidCount, 2);
  assert.notEqual(r.evict, quiet);
});
