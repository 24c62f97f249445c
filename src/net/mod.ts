/**
 * The gossip network: the surface other parts of the node use. Internals (connections, ingest
 * pipeline, workers, sync streaming, PEX, artifacts) live in the sibling files.
 * @module
 */
export { Network } from "./network.ts";
export * from "./options.ts";
export { NOOP_CONTROL_HANDLER } from "./control_relay.ts";
export type { ControlHandler } from "../node_types.ts";
export { type ConnectionLimits, DEFAULT_LIMITS } from "./connection.ts";
export type { AddressSource } from "./peer_book.ts";
