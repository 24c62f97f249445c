/**
 * Typed wire messages (PROTOCOL.md sections 5, 6 and 8): parse an untrusted frame body into a
 * tagged union, and build outgoing envelopes. Record, profile and control payloads get their deep
 * (and for records and profiles, asynchronous signature) validation from their own modules.
 * @module
 */
import { checkControl } from "./control.ts";
import { checkFields, type FieldKind } from "./fields.ts";
import {
  countJsonTokens,
  MAX_CONTROL_BYTES,
  MAX_JSON_TOKENS,
  MAX_PROFILE_FRAME_BYTES,
  MAX_RECORD_FRAME_BYTES,
} from "./limits.ts";
import { CONTROL_TYPES, type ControlEvent, type ControlType, type Validated } from "./types.ts";

/** `hello` (extension): first message on each connection between our nodes. */
export interface HelloPayload {
  node_id: string;
  listen_port: number;
  agent: string;
  features: string[];
  db_epoch: string;
}

/**
 * `sync_seq` (extension): "send me what you stored after these local sequence numbers of yours".
 * Cursors refer to the responder's `db_epoch`; another epoch means start from zero.
 */
export interface SyncSeqPayload {
  db_epoch: string;
  records: number;
  profiles: number;
  control: number;
}

/**
 * `sync_mark` (extension): sent by the responder after each streamed batch; everything sent before
 * it is covered by these cursors, so the receiver may persist them once that is stored.
 */
export interface SyncMarkPayload extends SyncSeqPayload {
  done: boolean;
}

/**
 * `announce` (extension, only to peers whose `hello` lists the `announce` feature): "I stored
 * these records"; the receiver asks for the ones it lacks with `get_records`.
 */
export interface RecordIdsPayload {
  ids: string[];
}

/**
 * Most record ids in one `announce` or `get_records`: 66 bytes of JSON each, so a message stays
 * under 70 KB and well inside the JSON token cap.
 */
export const MAX_RECORD_IDS = 1000;

/** Every message this node understands. Unknown types parse to `{ type: "unknown" }`. */
export type WireMessage =
  | { type: "experiment"; payload: unknown }
  | { type: "profile"; payload: unknown }
  | { type: "sync_request"; payload: { since: number } }
  | { type: "pex_request"; payload: Record<string, never> }
  | { type: "pex_response"; payload: { peer: string[] } }
  | { type: "code_request"; payload: { code_cid: string } }
  | { type: "code_response"; payload: { code_cid: string; code: string } }
  | { type: "ping"; payload: Record<string, never> }
  | { type: "pong"; payload: Record<string, never> }
  | { type: "hello"; payload: HelloPayload }
  | { type: "sync_seq"; payload: SyncSeqPayload }
  | { type: "sync_mark"; payload: SyncMarkPayload }
  | { type: "announce"; payload: RecordIdsPayload }
  | { type: "get_records"; payload: RecordIdsPayload }
  | ControlEvent
  | { type: "unknown"; payload: unknown; wireType: string };

const SIMPLE_SCHEMAS = {
  sync_request: { since: "int" },
  code_request: { code_cid: "str" },
  code_response: { code_cid: "str", code: "str" },
  hello: { node_id: "str", listen_port: "int", agent: "str", db_epoch: "str" },
  sync_seq: { db_epoch: "str", records: "int", profiles: "int", control: "int" },
  sync_mark: { db_epoch: "str", records: "int", profiles: "int", control: "int", done: "bool" },
} as const satisfies Readonly<Record<string, Readonly<Record<string, FieldKind>>>>;

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Most peers a `pex_response` may list; the rest is ignored. */
export const MAX_PEX_PEERS = 200;

/** Largest frame body of each message type whose size is bounded below the frame cap. */
const MAX_BODY_BYTES: ReadonlyMap<string, number> = new Map([
  ["experiment", MAX_RECORD_FRAME_BYTES],
  ["profile", MAX_PROFILE_FRAME_BYTES],
  ["challenge", MAX_CONTROL_BYTES],
  ["challenge_response", MAX_CONTROL_BYTES],
  ["verification", MAX_CONTROL_BYTES],
  ["dispute", MAX_CONTROL_BYTES],
]);

/**
 * Parse and structurally validate one frame body. Never throws. Bodies with more JSON structure
 * than any valid message are refused before parsing (their parse alone would exhaust the heap),
 * and each type's body is bounded in bytes (`MAX_BODY_BYTES`) before anything else reads it.
 */
export function parseMessage(body: Uint8Array): Validated<WireMessage> {
  if (countJsonTokens(body) > MAX_JSON_TOKENS) {
    return { ok: false, reason: `frame has more than ${MAX_JSON_TOKENS} JSON tokens` };
  }
  let env: unknown;
  try {
    env = JSON.parse(decoder.decode(body));
  } catch (e) {
    return { ok: false, reason: e instanceof TypeError ? "invalid UTF-8" : "invalid JSON" };
  }
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    return { ok: false, reason: "envelope is not a JSON object" };
  }
  const { type, payload } = env as { type?: unknown; payload?: unknown };
  if (typeof type !== "string") return { ok: false, reason: "envelope has no string type" };
  const max = MAX_BODY_BYTES.get(type) ?? Infinity;
  if (body.length > max) {
    return { ok: false, reason: `${type} of ${body.length} bytes exceeds its limit of ${max}` };
  }
  return parsePayload(type, payload);
}

function parsePayload(type: string, payload: unknown): Validated<WireMessage> {
  if (CONTROL_TYPES.includes(type as ControlType)) {
    return checkControl(type as ControlType, payload);
  }
  const isObject = typeof payload === "object" && payload !== null && !Array.isArray(payload);
  switch (type) {
    case "experiment":
    case "profile":
      return isObject
        ? { ok: true, value: { type, payload } }
        : { ok: false, reason: `${type}: payload must be an object` };
    case "ping":
    case "pong":
    case "pex_request":
      return { ok: true, value: { type, payload: {} } };
    case "pex_response":
      return parsePex(payload);
    case "sync_request":
    case "code_request":
    case "code_response":
    case "hello": {
      const reason = checkFields(payload, SIMPLE_SCHEMAS[type], type, true);
      if (reason) return { ok: false, reason };
      if (type === "hello") return parseHello(payload as HelloPayload);
      return { ok: true, value: { type, payload } as WireMessage };
    }
    case "sync_seq":
    case "sync_mark":
      return parseSyncCursor(type, payload);
    case "announce":
    case "get_records":
      return parseRecordIds(type, payload);
    default:
      return { ok: true, value: { type: "unknown", payload, wireType: type.slice(0, 64) } };
  }
}

function parsePex(payload: unknown): Validated<WireMessage> {
  const peer = (payload as { peer?: unknown } | null)?.peer;
  if (!Array.isArray(peer)) return { ok: false, reason: "pex_response: peer must be a list" };
  const addrs = peer.filter((p): p is string => typeof p === "string" && p.length <= 300);
  return {
    ok: true,
    value: { type: "pex_response", payload: { peer: addrs.slice(0, MAX_PEX_PEERS) } },
  };
}

const RECORD_ID = /^[0-9a-f]{64}$/;

function parseRecordIds(
  type: "announce" | "get_records",
  payload: unknown,
): Validated<WireMessage> {
  const ids = (payload as { ids?: unknown } | null)?.ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_RECORD_IDS) {
    return {
      ok: false,
      reason: `${type}: ids must be a list of 1 to ${MAX_RECORD_IDS} record ids`,
    };
  }
  for (const id of ids) {
    if (typeof id !== "string" || !RECORD_ID.test(id)) {
      return { ok: false, reason: `${type}: every id must be 64 lowercase hex digits` };
    }
  }
  return { ok: true, value: { type, payload: { ids: ids as string[] } } };
}

function parseSyncCursor(type: "sync_seq" | "sync_mark", payload: unknown): Validated<WireMessage> {
  const reason = checkFields(payload, SIMPLE_SCHEMAS[type], type, true);
  if (reason) return { ok: false, reason };
  const p = payload as SyncMarkPayload;
  if (p.db_epoch.length > 128) return { ok: false, reason: `${type}: db_epoch too long` };
  for (const k of ["records", "profiles", "control"] as const) {
    if (p[k] < 0) return { ok: false, reason: `${type}: ${k} must not be negative` };
  }
  const cursors = {
    db_epoch: p.db_epoch,
    records: p.records,
    profiles: p.profiles,
    control: p.control,
  };
  return {
    ok: true,
    value: type === "sync_seq"
      ? { type, payload: cursors }
      : { type, payload: { ...cursors, done: p.done } },
  };
}

function parseHello(p: HelloPayload): Validated<WireMessage> {
  if (!/^[0-9a-f]{64}$/.test(p.node_id)) return { ok: false, reason: "hello: bad node_id" };
  if (p.listen_port < 0 || p.listen_port > 65535) return { ok: false, reason: "hello: bad port" };
  const features = Array.isArray(p.features)
    ? p.features.filter((f): f is string => typeof f === "string").slice(0, 64)
    : [];
  return {
    ok: true,
    value: {
      type: "hello",
      payload: {
        node_id: p.node_id,
        listen_port: p.listen_port,
        agent: p.agent.slice(0, 128),
        features,
        db_epoch: p.db_epoch.slice(0, 128),
      },
    },
  };
}

/** JSON text of an outgoing envelope whose payload has no float fields. */
export function envelope(type: string, payload: unknown): string {
  return JSON.stringify({ type, payload });
}

/** JSON text of an outgoing envelope around an already-encoded payload (records, signed events). */
export function envelopeRaw(type: string, payloadJson: string): string {
  return `{"type":${JSON.stringify(type)},"payload":${payloadJson}}`;
}
