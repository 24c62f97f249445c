/**
 * The gossip network: the surface other parts of the node use. Internals (connections, ingest
 * pipeline, workers, sync streaming, PEX, artifacts) live in the sibling files.
 * @module
 */
export {
  type ControlHandler,
  DEFAULT_TIMING,
  FEATURE_SEQ_SYNC,
  type NetTiming,
  Network,
  type NetworkOptions,
  type NetworkStats,
  NOOP_CONTROL_HANDLER,
} from "./network.ts";
export { type ConnectionLimits, DEFAULT_LIMITS } from "./connection.ts";
export type { AddressSource } from "./peer_book.ts";
