/**
 * What a {@link Network} is configured with and reports: options, timing knobs, the traffic
 * observer and the counters. Kept apart from the network itself so the parts it is composed of
 * (legacy sync, control relay, sync sessions) can share them without importing the network.
 * @module
 */
import type { Stores } from "../store/mod.ts";
import type { ControlHandler, NodeEvent } from "../node_types.ts";
import type { ConnectionLimits } from "./connection.ts";
import type { BackoffPolicy } from "./backoff.ts";
import type { Logger } from "../ops/log.ts";
import type { InventoryLimits, InventoryStats } from "./inventory.ts";

/** Feature flag in `hello` for cursor-based incremental sync. */
export const FEATURE_SEQ_SYNC = "seq_sync";

/** Feature flag in `hello`: announce record ids and pull bodies (`announce`, `get_records`). */
export const FEATURE_ANNOUNCE = "announce";

/**
 * How records travel to our own nodes: `announce` (ids first, each body pulled from one
 * announcer) or `flood` (every body to every peer, as the Python node does; for comparison).
 * Peers without the `announce` feature always get full bodies.
 */
export type GossipMode = "announce" | "flood";

/**
 * Outbound connections PEX fills up to. 8 gives a mesh of degree about 16 once inbound joins
 * (scripts/bench/mesh.ts: 30 nodes converge in one or two hops); announcements cost ~70 bytes
 * per id per link, so the degree no longer multiplies body copies.
 */
export const DEFAULT_TARGET_OUTBOUND = 8;

/** Timing knobs (milliseconds). Tests shrink them. */
export interface NetTiming {
  /** Period of the housekeeping timer (timeouts, dialing, PEX). */
  tickMs: number;
  /** A peer that sent no `hello` within this long is a Python peer. */
  helloWaitMs: number;
  /** Send live sync marks to incremental-sync peers this often. */
  markIntervalMs: number;
  /** Ask peers for more peers this often. */
  pexIntervalMs: number;
  /** A dial that does not connect within this long fails. */
  dialTimeoutMs: number;
  backoff: BackoffPolicy;
  artifactDeadlineMs: number;
  artifactPerPeerMs: number;
  /**
   * New record ids wait this long for more before an `announce` goes out: a stream of records
   * becomes a few messages of up to 1,000 ids instead of one per record, at a cost of this much
   * latency per hop.
   */
  announceLingerMs: number;
}

/** Defaults for the public network. */
export const DEFAULT_TIMING: NetTiming = {
  tickMs: 1000,
  helloWaitMs: 3000,
  markIntervalMs: 5000,
  pexIntervalMs: 120_000,
  dialTimeoutMs: 10_000,
  backoff: { baseMs: 1000, maxMs: 5 * 60_000 },
  artifactDeadlineMs: 60_000,
  artifactPerPeerMs: 10_000,
  announceLingerMs: 20,
};

/**
 * Records waiting for validation before reading from peers pauses. Enough that the validation
 * worker keeps busy while the main thread commits a batch (1,024 left it idle: about 20% slower
 * ingest and sync in scripts/bench/net.ts); each costs a few KB, and 2,048 put a node with
 * 50,000 records above 150 MB resident.
 */
export const DEFAULT_MAX_PENDING = 1536;

/** Options of {@link Network.start}. */
export interface NetworkOptions {
  nodeId: string;
  stores: Stores;
  /** Where `known_peer` and the sync state live. */
  dataDir: string;
  /** Listening address; `listen: false` runs without a server (PEX then advertises port 0). */
  host: string;
  port: number;
  listen?: boolean;
  /** Peers to dial (configured plus `--peer`). */
  peers: string[];
  /** Dialed only when `peers` is empty. */
  bootstrap: string[];
  /** Discovered in earlier runs (`known_peer`). */
  knownPeers: string[];
  /** Most simultaneous connections, inbound and outbound together. */
  maxPeers: number;
  /** Discovered peers are dialed up to this many outbound connections ({@link DEFAULT_TARGET_OUTBOUND}). */
  targetOutbound?: number | undefined;
  /** How records travel between our nodes (default `announce`). */
  gossip?: GossipMode | undefined;
  /** Announce/pull tuning (tests shrink the request timeout). */
  inventory?: Partial<InventoryLimits> | undefined;
  control?: ControlHandler;
  /** Legacy network switch: log and sync unsigned control events too (never badly signed ones). */
  acceptUnsigned?: boolean | undefined;
  onEvent?: (e: NodeEvent) => void;
  /** Where the network logs (connection ends, dial failures); its entries carry `part: net...`. */
  log?: Logger | undefined;
  timing?: Partial<NetTiming> | undefined;
  limits?: Partial<ConnectionLimits> | undefined;
  /** Signature-check worker threads (default: cores - 1; 0 = in-thread). */
  verifyWorkers?: number | undefined;
  agent?: string;
  /**
   * Store received records from a worker thread's own connection (default: with 4+ cores;
   * on fewer the extra thread only competes with validation and costs memory).
   */
  storeInWorker?: boolean;
  /** Records buffered for validation before reading from peers pauses ({@link DEFAULT_MAX_PENDING}). */
  maxPendingRecords?: number;
  /** Estimated bytes of those records before reading pauses (default 16 MiB). */
  maxPendingBytes?: number;
  /** Bytes of unfinished frames over all connections (`DEFAULT_RECEIVE_BUDGET_BYTES`, 64 MiB). */
  receiveBudgetBytes?: number;
  /** Inbound connections in total (default `maxPeers` minus 8 reserved for our own dials). */
  maxInbound?: number;
  /** Inbound connections per address group, /24 or /64 (`DEFAULT_MAX_INBOUND_PER_GROUP`, 32). */
  maxInboundPerGroup?: number;
}

/**
 * Optional observer of traffic, for metrics and the log; it never changes behaviour. `type` is
 * a parsed message type or one of ours; `kind` is a small fixed set (safe as a metric label),
 * `detail` the specific, possibly peer-supplied, reason.
 */
export interface NetObserver {
  messageIn?(type: string): void;
  messageOut?(type: string): void;
  dropped?(kind: "invalid_message" | "invalid_record" | "store_failed", detail: string): void;
}

/** Counters for progress displays, metrics and tests. */
export interface NetworkStats {
  peers: number;
  /** Record bodies received (every copy). */
  received: number;
  stored: number;
  duplicates: number;
  invalid: number;
  /** Announce/pull counters (zero when flooding). */
  announce?: InventoryStats & {
    /** Record bodies sent in answer to `get_records`. */
    served: number;
  };
}
