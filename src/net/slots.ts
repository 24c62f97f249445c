/**
 * Inbound connection slots (docs/LIMITS.md): inbound connections are limited in total and per
 * address group (/24 for IPv4, /64 for IPv6), and the slots left are reserved for peers this
 * node dials. A newcomer over a limit does not get refused: it evicts the least useful inbound
 * connection, as Bitcoin Core's eviction does: the peers that most recently gave us new records,
 * the lowest-latency and the longest-connected are protected; among the rest of the fullest
 * group, one that sent invalid messages goes first (the most), else the youngest. So idle or useless connections, however many one party
 * opens, never lock a newcomer out, and never push out a peer that feeds us.
 * Pure: the network supplies the peers and closes the one chosen.
 * @module
 */

/** Limits on inbound connections. */
export interface SlotLimits {
  /** Inbound connections in total. */
  maxInbound: number;
  /** Inbound connections from one address group. */
  maxInboundPerGroup: number;
}

/**
 * Outbound slots kept free of inbound connections by default: inbound may use `max_peers`
 * minus these. Matches the default outbound target for discovered peers (8).
 */
export const RESERVED_OUTBOUND = 8;

/**
 * Default inbound connections per address group. A 30-node mesh on one machine (all one group,
 * 127.0.0.0/24) needs 29; one party with many addresses in a /24 gets at most this many of the
 * 56 inbound slots (64 `max_peers` minus the reserved outbound).
 */
export const DEFAULT_MAX_INBOUND_PER_GROUP = 32;

/** How many peers each protection keeps (Bitcoin Core: 4 by recent blocks, 8 by ping). */
export const PROTECT_RECENT_RECORDS = 4;
/** See {@link PROTECT_RECENT_RECORDS}. */
export const PROTECT_LOW_LATENCY = 4;
/** See {@link PROTECT_RECENT_RECORDS}. */
export const PROTECT_LONGEST_LIVED = 4;

/** What eviction looks at in a connection. */
export interface SlotPeer {
  inbound: boolean;
  /** Address group of the remote host ({@link addressGroup}). */
  group: string;
  connectedAt: number;
  /** When this peer last gave us a record we did not have (0: never). */
  lastNewRecordAt: number;
  /** Best ping round trip measured (Infinity: none yet). */
  rttMs: number;
  /** Invalid messages it sent. */
  invalidCount: number;
  /** Bytes of an unfinished frame it holds in our buffers now. */
  bufferedBytes: number;
}

/** A peer holding more than this of an unfinished frame is a heavy sender (real frames: KBs). */
export const HEAVY_FRAME_BYTES = 1024 * 1024;

/** The address group of a host: `/24` of an IPv4 address, `/64` of an IPv6 one. */
export function addressGroup(host: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  const v4 = mapped ? mapped[1]! : host;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(v4)) return v4.split(".").slice(0, 3).join(".") + ".0/24";
  if (!host.includes(":")) return host; // a name: its own group
  const [head = "", tail = ""] = host.toLowerCase().split("::", 2);
  const left = head ? head.split(":") : [];
  const right = host.includes("::") && tail ? tail.split(":") : [];
  const groups = [
    ...left,
    ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"),
    ...right,
  ];
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":") + "::/64";
}

/** Outcome of {@link admitInbound}. */
export type Admission<P> =
  | { admit: true; evict?: P }
  | { admit: false; reason: string };

/**
 * Room for a new inbound connection from `host` among the `live` connections of a node
 * configured with `o`: true when admitted, after closing the least useful inbound peer when a
 * limit was reached. Outbound connections keep their slots.
 */
export function makeRoomFor<P extends SlotPeer & { close(reason: string): void }>(
  host: string,
  live: readonly P[],
  o: Parameters<typeof inboundLimits>[0],
): boolean {
  const limits = inboundLimits(o, live.filter((c) => !c.inbound).length);
  const verdict = admitInbound(live, addressGroup(host), limits);
  if (!verdict.admit) return false;
  verdict.evict?.close(`evicted to make room for a new inbound peer from ${host}`);
  return true;
}

/**
 * Two connections to one node (`peerId`): true when the one already there (`existing`) is kept
 * and `fresh` closed. Both ends apply the same rule, so they keep the same connection: the one
 * dialed by the lower node_id; between two of the same direction, the older.
 */
export function keepsExisting(
  existing: { inbound: boolean },
  fresh: { inbound: boolean },
  peerId: string,
  ourId: string,
): boolean {
  const preferInbound = peerId < ourId;
  return existing.inbound === fresh.inbound || existing.inbound === preferInbound;
}

/**
 * The inbound limits of a node configured with `o` that has `outbound` outbound connections:
 * {@link RESERVED_OUTBOUND} slots stay free for dialing unless `maxInbound` says otherwise, and
 * outbound connections keep their slots.
 */
export function inboundLimits(
  o: { maxPeers: number; maxInbound?: number; maxInboundPerGroup?: number },
  outbound: number,
): SlotLimits {
  return {
    maxInbound: Math.min(
      o.maxInbound ?? Math.max(1, o.maxPeers - RESERVED_OUTBOUND),
      o.maxPeers - outbound,
    ),
    maxInboundPerGroup: o.maxInboundPerGroup ?? DEFAULT_MAX_INBOUND_PER_GROUP,
  };
}

/**
 * Decide on a new inbound connection from `group` given the live `peers`: admit it, admit it by
 * evicting one inbound peer, or refuse it (every inbound peer that could go is protected).
 */
export function admitInbound<P extends SlotPeer>(
  peers: readonly P[],
  group: string,
  limits: SlotLimits,
): Admission<P> {
  const inbound = peers.filter((p) => p.inbound);
  const sameGroup = inbound.filter((p) => p.group === group).length;
  const groupFull = sameGroup >= limits.maxInboundPerGroup;
  if (inbound.length < limits.maxInbound && !groupFull) return { admit: true };
  let pool = unprotected(inbound);
  if (groupFull) {
    pool = pool.filter((p) => p.group === group);
  } else {
    // The group with the most evictable connections gives one up.
    const counts = new Map<string, number>();
    for (const p of pool) counts.set(p.group, (counts.get(p.group) ?? 0) + 1);
    let fullest: string | undefined;
    for (const [g, n] of counts) if (fullest === undefined || n > counts.get(fullest)!) fullest = g;
    pool = pool.filter((p) => p.group === fullest);
  }
  if (pool.length === 0) {
    return { admit: false, reason: "inbound slots full of protected peers" };
  }
  // A peer that sent invalid messages is the least useful: such peers go first, most invalid
  // first (a flood of junk frames then only ever evicts its own kind, never a quiet newcomer).
  // A peer in the middle of a frame over 1 MiB counts as one too: a flood of maximum frames
  // must evict its own kind before a newcomer has had the time to send anything.
  const offenders = pool.filter((p) => p.invalidCount > 0 || p.bufferedBytes > HEAVY_FRAME_BYTES);
  if (offenders.length > 0) {
    return {
      admit: true,
      evict: offenders.reduce((a, b) => b.invalidCount > a.invalidCount ? b : a),
    };
  }
  // Else the youngest goes: it has shown the least, and an attacker's newest connection is
  // usually it.
  const evict = pool.reduce((a, b) => b.connectedAt > a.connectedAt ? b : a);
  return { admit: true, evict };
}

/** Inbound peers left after the protections, in their original order. */
function unprotected<P extends SlotPeer>(inbound: readonly P[]): P[] {
  const keep = new Set<P>();
  const protect = (ordered: P[], n: number) => {
    for (const p of ordered.filter((p) => !keep.has(p)).slice(0, n)) keep.add(p);
  };
  protect(
    inbound.filter((p) => p.lastNewRecordAt > 0).sort((a, b) =>
      b.lastNewRecordAt - a.lastNewRecordAt
    ),
    PROTECT_RECENT_RECORDS,
  );
  protect(
    inbound.filter((p) => Number.isFinite(p.rttMs)).sort((a, b) => a.rttMs - b.rttMs),
    PROTECT_LOW_LATENCY,
  );
  protect([...inbound].sort((a, b) => a.connectedAt - b.connectedAt), PROTECT_LONGEST_LIVED);
  return inbound.filter((p) => !keep.has(p));
}
