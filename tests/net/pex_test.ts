import assert from "node:assert/strict";
import { listeningAddress, pexAddresses, type PexCandidate } from "../../src/net/pex.ts";

Deno.test("PEX lists only real listening addresses, never the requester or ephemeral ports", () => {
  const c = (id: number, extra: Partial<PexCandidate>): PexCandidate => ({
    id,
    closed: false,
    remoteHost: "127.0.0.1",
    ...extra,
  });
  const requester = c(1, { hello: { node_id: "r", listen_port: 7000 } });
  const conns = [
    requester,
    c(2, { dialedAddress: "10.0.0.2:7470" }), // python peer we dialed
    c(3, {}), // python peer that dialed us: ephemeral port only
    c(4, { remoteHost: "10.0.0.4", hello: { node_id: "n4", listen_port: 7471 } }),
    c(5, { remoteHost: "10.0.0.5", hello: { node_id: "n5", listen_port: 0 } }), // not listening
    c(6, { remoteHost: "::1", hello: { node_id: "n6", listen_port: 9 } }),
    c(7, { remoteHost: "10.0.0.7", hello: { node_id: "r", listen_port: 1 } }), // requester again
    c(8, { closed: true, dialedAddress: "10.0.0.8:1" }),
  ];
  assert.deepEqual(pexAddresses(conns, requester), ["10.0.0.2:7470", "10.0.0.4:7471", "[::1]:9"]);
  assert.equal(listeningAddress(c(9, {})), undefined);
});
