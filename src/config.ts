/**
 * Data directory, identity and configuration files (PROTOCOL.md sections 1 and 9).
 *
 * Everything read here is untrusted user input: every error names the file (and line, for TOML)
 * and says how to fix it, and nothing is ever overwritten on a read error.
 * @module
 */
import { join, resolve } from "node:path";
import { homedir } from "node:os";
import { parse as parseToml, stringify as stringifyToml, TomlError } from "smol-toml";
import { bytesToHex, hexToBytes, type KeyPair, keyPairFromSeed } from "./protocol/mod.ts";
import { parseAddress } from "./protocol/address.ts";
import { generateKeyPair } from "./protocol/crypto.ts";
import { UserError } from "./errors.ts";
import { DEFAULT_MEMORY_LIMIT, type MemoryLimit, parseMemoryLimit } from "./training/memory.ts";

/** Default gossip port (the Python network's). */
export const DEFAULT_PORT = 7470;
/** Default explorer port. */
export const DEFAULT_WEB_PORT = 8470;
/** Bootstrap peers used when none is configured. */
export const DEFAULT_BOOTSTRAP = ["peer.sporemesh.com:7470"];

/** A user-facing configuration problem: the message says what is wrong and what to do. */
export class ConfigError extends UserError {}

/** Contents of `<data>/config.toml`, with defaults applied. */
export interface SporeConfig {
  host: string;
  port: number;
  data_dir: string;
  peer: string[];
  /** Our additions (a Python node ignores unknown keys). */
  bootstrap: string[];
  python?: string;
  max_peers: number;
  /** Outbound connections PEX fills up to (default 8). */
  outbound_peers?: number;
  /**
   * How records travel to our own nodes: "announce" (ids first, bodies pulled; default) or
   * "flood" (every body to every peer, as the Python node does).
   */
  gossip?: string;
  spot_check_rate?: number;
  /** Memory limit of each training run: `50%` (of RAM), `4096MiB`, `8GiB` or `none`. */
  train_memory_limit?: string;
  /**
   * Legacy network switch: apply unsigned control events (a Python-only network's challenges and
   * disputes) to reputation. Off by default; `SPORE_ACCEPT_UNSIGNED_CONTROL` overrides it.
   */
  accept_unsigned_control?: boolean;
  /** A research workspace (`--workspace`): a directory with prepare.py and train.py. */
  workspace?: string;
  /** The `dataset_cid` of that workspace's data (`--dataset-cid`). */
  dataset_cid?: string;
  /** Where that workspace's prepared data is on this machine (`--data-cache`). */
  data_cache?: string;
  web_host: string;
  web_port: number;
  /**
   * Problems that do not stop the node, for the banner and `spore doctor` (a misspelt key is
   * ignored, so it must at least be said). Not a TOML key.
   */
  warnings?: string[];
}

/** Keys the Python node writes to config.toml; kept and never warned about. */
const PYTHON_CONFIG_KEYS = ["host", "port", "data_dir", "peer"];

/** The closest known key to `key` (edit distance at most 2), for "did you mean". */
function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Levenshtein distance (short strings: config keys). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** Resolve the data dir: `--data-dir` flag, else `SPORE_HOME`, else `~/.spore`. */
export function resolveDataDir(flag?: string): string {
  const dir = flag ?? Deno.env.get("SPORE_HOME") ?? join(homedir(), ".spore");
  return resolve(dir);
}

/**
 * A path from config.toml (`workspace`, `data_cache`): `~/` is the home, a relative path is
 * relative to the data dir (the file's directory), not to wherever the node was started.
 */
export function configPath(value: string | undefined, dataDir: string): string | undefined {
  if (value === undefined) return undefined;
  if (value === "~" || value.startsWith("~/")) return join(homedir(), value.slice(1));
  return resolve(dataDir, value);
}

/** Paths of everything inside a data dir: the one place their names are spelled. */
export function dataPaths(dataDir: string) {
  return {
    config: join(dataDir, "config.toml"),
    llm: join(dataDir, "llm.toml"),
    knownPeer: join(dataDir, "known_peer"),
    identityDir: join(dataDir, "identity"),
    privateKey: join(dataDir, "identity", "private_key"),
    nodeId: join(dataDir, "identity", "node_id"),
    db: join(dataDir, "db"),
    artifact: join(dataDir, "artifact"),
    log: join(dataDir, "log"),
    /** The user's copy of the workspace (train.py, prepare.py, ...). */
    workspace: join(dataDir, "workspace"),
    /** This machine's measured CPU training pace (`src/training/cpu_pace.ts`). */
    cpuPace: join(dataDir, "cpu_pace.json"),
    /** Versions of the workspace's train.py that a keep replaced (`src/research/best_code.ts`). */
    workspaceHistory: join(dataDir, "workspace_history"),
    /** Sync cursors and watermarks (`src/net/sync_state.ts`). */
    netState: join(dataDir, "db", "net_state.json"),
    /** Held by the running node (`src/ops/lock.ts`). */
    lock: join(dataDir, "spore.lock"),
    pid: join(dataDir, "spore.pid"),
    /** The running node's port and live peers, for `spore peer` and `spore start`. */
    peers: join(dataDir, "peers.json"),
  };
}

async function readTextOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new ConfigError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

function parseTomlFile(path: string, text: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      throw new ConfigError(
        `${path}:${e.line}:${e.column}: invalid TOML (${e.message.split("\n")[0]}). ` +
          `Fix that line, or delete the file to go back to defaults.`,
      );
    }
    throw e;
  }
}

type ConfigKind = "string" | "integer" | "number" | "boolean" | "string[]";

function expectType(path: string, key: string, value: unknown, kind: ConfigKind): void {
  const ok = kind === "string[]"
    ? Array.isArray(value) && value.every((v) => typeof v === "string")
    : kind === "boolean"
    ? typeof value === "boolean"
    : kind === "integer"
    ? Number.isInteger(value)
    : kind === "number"
    ? typeof value === "number" && Number.isFinite(value)
    : typeof value === "string";
  if (!ok) {
    throw new ConfigError(
      `${path}: "${key}" must be ${
        kind === "string[]" ? "a list of strings" : `${kind === "integer" ? "an" : "a"} ${kind}`
      }, ` +
        `got ${JSON.stringify(value)?.slice(0, 60)}. Fix it in the file.`,
    );
  }
}

function checkPort(path: string, key: string, port: number): void {
  if (port < 0 || port > 65535) {
    throw new ConfigError(`${path}: "${key}" ${port} is not a port (0-65535)`);
  }
}

function checkPeers(path: string, key: string, peers: string[]): void {
  for (const p of peers) {
    const r = parseAddress(p);
    if (!r.ok) throw new ConfigError(`${path}: "${key}" entry ${r.reason}`);
  }
}

/** The configuration of a data dir without config.toml. */
export function defaultConfig(dataDir: string): SporeConfig {
  return {
    host: "0.0.0.0",
    port: DEFAULT_PORT,
    data_dir: dataDir,
    peer: [],
    bootstrap: [...DEFAULT_BOOTSTRAP],
    max_peers: 64,
    web_host: "127.0.0.1",
    web_port: DEFAULT_WEB_PORT,
  };
}

/** The memory limit of training runs config.toml sets, else the default (half the RAM). */
export function trainMemoryLimit(cfg: SporeConfig): MemoryLimit {
  if (cfg.train_memory_limit === undefined) return DEFAULT_MEMORY_LIMIT;
  const m = parseMemoryLimit(cfg.train_memory_limit);
  return "error" in m ? DEFAULT_MEMORY_LIMIT : m; // loadConfig refused a bad value already
}

/** Read `<data>/config.toml` (absent means defaults). Throws ConfigError with file and line. */
export async function loadConfig(dataDir: string): Promise<SporeConfig> {
  const path = dataPaths(dataDir).config;
  const text = await readTextOrUndefined(path);
  const raw = text === undefined ? {} : parseTomlFile(path, text);
  const cfg = defaultConfig(dataDir);
  const kinds: Record<string, ConfigKind> = {
    host: "string",
    port: "integer",
    data_dir: "string",
    peer: "string[]",
    bootstrap: "string[]",
    python: "string",
    max_peers: "integer",
    outbound_peers: "integer",
    gossip: "string",
    spot_check_rate: "number",
    train_memory_limit: "string",
    accept_unsigned_control: "boolean",
    workspace: "string",
    dataset_cid: "string",
    data_cache: "string",
    web_host: "string",
    web_port: "integer",
  };
  const warnings: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const kind = kinds[key];
    if (!kind) {
      // Unknown keys stay in the file (another version may use them) but are ignored here.
      const known = [...new Set([...Object.keys(kinds), ...PYTHON_CONFIG_KEYS])];
      const guess = closestKey(key, known);
      warnings.push(
        `${path}: unknown key "${key}" is ignored` +
          (guess ? ` (did you mean "${guess}"?)` : `; known keys: ${known.join(", ")}`),
      );
      continue;
    }
    expectType(path, key, value, kind);
    (cfg as unknown as Record<string, unknown>)[key] = value;
  }
  checkPort(path, "port", cfg.port);
  checkPort(path, "web_port", cfg.web_port);
  checkPeers(path, "peer", cfg.peer);
  checkPeers(path, "bootstrap", cfg.bootstrap);
  if (cfg.max_peers < 1) throw new ConfigError(`${path}: "max_peers" must be at least 1`);
  if (cfg.outbound_peers !== undefined && cfg.outbound_peers < 0) {
    throw new ConfigError(`${path}: "outbound_peers" must be 0 or more`);
  }
  if (cfg.gossip !== undefined && cfg.gossip !== "announce" && cfg.gossip !== "flood") {
    throw new ConfigError(`${path}: "gossip" must be "announce" or "flood"`);
  }
  if (
    cfg.spot_check_rate !== undefined && !(cfg.spot_check_rate >= 0 && cfg.spot_check_rate <= 1)
  ) {
    throw new ConfigError(`${path}: "spot_check_rate" must be between 0 and 1`);
  }
  if (cfg.train_memory_limit !== undefined) {
    const m = parseMemoryLimit(cfg.train_memory_limit);
    if ("error" in m) throw new ConfigError(`${path}: "train_memory_limit" ${m.error}`);
  }
  cfg.data_dir = dataDir;
  if (warnings.length) cfg.warnings = warnings;
  return cfg;
}

/**
 * Update keys of config.toml, keeping every other key the file has (a Python node's included).
 * Refuses to touch a file that does not load (bad TOML or wrong-typed values).
 */
export async function updateConfig(dataDir: string, changes: Partial<SporeConfig>): Promise<void> {
  await loadConfig(dataDir); // a file with errors is reported, never rewritten
  const path = dataPaths(dataDir).config;
  const text = await readTextOrUndefined(path);
  const raw = text === undefined ? {} : parseTomlFile(path, text);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete raw[k];
    else raw[k] = v;
  }
  await Deno.mkdir(dataDir, { recursive: true });
  await atomicWrite(path, stringifyToml(raw) + "\n");
}

/**
 * Write config.toml with its defaults when the data dir has none, so the user has a file to edit
 * (the keys a Python node writes: host, port, data_dir, peer). Returns whether it wrote one.
 */
export async function ensureConfigFile(dataDir: string): Promise<boolean> {
  if (await readTextOrUndefined(dataPaths(dataDir).config) !== undefined) return false;
  const cfg = await loadConfig(dataDir);
  await updateConfig(dataDir, {
    host: cfg.host,
    port: cfg.port,
    data_dir: dataDir,
    peer: cfg.peer,
  });
  return true;
}

/**
 * Write a file (text, or exact bytes) via a temporary sibling and rename, so a crash never leaves
 * it half-written.
 */
export async function atomicWrite(
  path: string,
  data: string | Uint8Array,
  mode?: number,
): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const opts = mode === undefined ? {} : { mode };
  if (typeof data === "string") await Deno.writeTextFile(tmp, data, opts);
  else await Deno.writeFile(tmp, data, opts);
  if (mode !== undefined) await Deno.chmod(tmp, mode);
  await Deno.rename(tmp, path);
}

/** Read `known_peer` (one host:port per line); invalid lines are skipped. */
export async function loadKnownPeers(dataDir: string): Promise<string[]> {
  const text = await readTextOrUndefined(dataPaths(dataDir).knownPeer);
  if (!text) return [];
  return [...new Set(text.split("\n").map((l) => l.trim()).filter((l) => parseAddress(l).ok))];
}

/** Replace `known_peer` with the given addresses. */
export async function saveKnownPeers(dataDir: string, peers: Iterable<string>): Promise<void> {
  await Deno.mkdir(dataDir, { recursive: true });
  await atomicWrite(dataPaths(dataDir).knownPeer, [...new Set(peers)].join("\n") + "\n");
}

/**
 * Load the node identity. Throws ConfigError for a malformed key, or when `node_id` disagrees
 * with the key (never silently replaced: it is the node's reputation).
 */
export async function loadIdentity(dataDir: string): Promise<KeyPair | undefined> {
  const paths = dataPaths(dataDir);
  const text = await readTextOrUndefined(paths.privateKey);
  if (text === undefined) return undefined;
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new ConfigError(
      `${paths.privateKey}: expected 64 hex characters (a 32-byte Ed25519 seed), found ` +
        `${hex.length} characters${/^[0-9a-fA-F]*$/.test(hex) ? "" : " including non-hex ones"}. ` +
        `Restore the file from a backup, or move the identity directory away and run \`spore init\` ` +
        `to create a new identity (the old node's reputation stays with the old key).`,
    );
  }
  const keys = keyPairFromSeed(hexToBytes(hex));
  const stored = (await readTextOrUndefined(paths.nodeId))?.trim();
  if (stored && stored.toLowerCase() !== keys.nodeId) {
    throw new ConfigError(
      `${paths.nodeId} (${stored.slice(0, 16)}...) does not match the public key of ` +
        `${paths.privateKey} (${keys.nodeId.slice(0, 16)}...). Delete ${paths.nodeId} to have it ` +
        `rewritten from the private key.`,
    );
  }
  return keys;
}

/** Load the identity, creating one (dir 0700, files 0600) when none exists. */
export async function ensureIdentity(
  dataDir: string,
): Promise<{ keys: KeyPair; created: boolean }> {
  const existing = await loadIdentity(dataDir);
  const paths = dataPaths(dataDir);
  if (existing) {
    const nodeIdFile = await readTextOrUndefined(paths.nodeId);
    if (nodeIdFile === undefined) await atomicWrite(paths.nodeId, existing.nodeId, 0o600);
    return { keys: existing, created: false };
  }
  const keys = generateKeyPair();
  await Deno.mkdir(paths.identityDir, { recursive: true, mode: 0o700 });
  await Deno.chmod(paths.identityDir, 0o700);
  await atomicWrite(paths.privateKey, bytesToHex(keys.seed), 0o600);
  await atomicWrite(paths.nodeId, keys.nodeId, 0o600);
  return { keys, created: true };
}

/** LLM settings in `<data>/llm.toml`. */
export interface LlmConfig {
  provider: string;
  api_key: string;
  model: string;
  base_url?: string | undefined;
  max_token?: number | undefined;
  temperature?: number | undefined;
}

/** Read llm.toml; undefined when absent. */
export async function loadLlmConfig(dataDir: string): Promise<LlmConfig | undefined> {
  const path = dataPaths(dataDir).llm;
  const text = await readTextOrUndefined(path);
  if (text === undefined) return undefined;
  const raw = parseTomlFile(path, text);
  for (const key of ["provider", "api_key", "model"]) {
    expectType(path, key, raw[key] ?? "", "string");
  }
  if (raw.base_url !== undefined) expectType(path, "base_url", raw.base_url, "string");
  if (raw.max_token !== undefined) expectType(path, "max_token", raw.max_token, "integer");
  if (raw.temperature !== undefined) expectType(path, "temperature", raw.temperature, "number");
  return {
    provider: String(raw.provider ?? ""),
    api_key: String(raw.api_key ?? ""),
    model: String(raw.model ?? ""),
    base_url: raw.base_url as string | undefined,
    max_token: raw.max_token as number | undefined,
    temperature: raw.temperature as number | undefined,
  };
}

/** Write llm.toml with mode 0600 (it holds an API key). */
export async function saveLlmConfig(dataDir: string, cfg: LlmConfig): Promise<void> {
  await Deno.mkdir(dataDir, { recursive: true });
  const clean = Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== undefined));
  await atomicWrite(dataPaths(dataDir).llm, stringifyToml(clean) + "\n", 0o600);
}
