/**
 * The pure protocol core: canonical bytes, records, profiles, control events, framing and
 * message schemas. No I/O.
 * @module
 */
export * from "./types.ts";
export * from "./canonical.ts";
export * from "./hash.ts";
export * from "./crypto.ts";
export * from "./record.ts";
export * from "./profile.ts";
export * from "./control.ts";
export * from "./frame.ts";
export * from "./messages.ts";
export * from "./gpu.ts";
export * from "./address.ts";
export * from "./fields.ts";
export * from "./limits.ts";
export * from "./research_class.ts";
export * from "./frontier.ts";
export * from "./short_id.ts";
