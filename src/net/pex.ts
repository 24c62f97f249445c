/**
 * Peer exchange: which addresses we hand out. Only real listening addresses: the address we
 * dialed, or the peer's IP with the listening port from its `hello`. An inbound peer without
 * `hello` (a Python node) is never listed: all we know is its ephemeral source port.
 * @module
 */
import { envelope, formatAddress } from "../protocol/mod.ts";

/** What PEX needs to know about a connection. */
export interface PexCandidate {
  readonly id: number;
  readonly closed: boolean;
  readonly remoteHost: string;
  readonly dialedAddress?: string | undefined;
  readonly hello?: { node_id: string; listen_port: number };
}

/** Most addresses in one `pex_response`. */
export const PEX_LIMIT = 100;

/** The dialable address of a connection's peer, or undefined when we do not know one. */
export function listeningAddress(c: PexCandidate): string | undefined {
  if (c.dialedAddress) return c.dialedAddress;
  if (c.hello && c.hello.listen_port > 0) {
    return formatAddress({ host: c.remoteHost, port: c.hello.listen_port });
  }
  return undefined;
}

/** The `pex_response` envelope for `requester`. */
export function pexResponse(conns: Iterable<PexCandidate>, requester: PexCandidate): string {
  return envelope("pex_response", { peer: pexAddresses(conns, requester) });
}

/** Addresses to send to `requester`: every other live peer's listening address, deduplicated. */
export function pexAddresses(conns: Iterable<PexCandidate>, requester: PexCandidate): string[] {
  const out = new Set<string>();
  for (const c of conns) {
    if (c.closed || c.id === requester.id) continue;
    if (requester.hello && c.hello?.node_id === requester.hello.node_id) continue;
    const a = listeningAddress(c);
    if (a) out.add(a);
    if (out.size >= PEX_LIMIT) break;
  }
  return [...out];
}
