/** Shared fixtures for the network tests: fast record signing, loopback nodes, raw peers. */
import { Buffer } from "node:buffer";
import { createPrivateKey, sign } from "node:crypto";
import {
  bytesToHex,
  canonicalRecord,
  challengeId,
  type ControlEvent,
  encodeFrame,
  type ExperimentPayload,
  type ExperimentRecord,
  FrameDecoder,
  generateKeyPair,
  hexToBytes,
  type KeyPair,
  keyPairFromSeed,
  sha256Hex,
  signControl,
} from "../../src/protocol/mod.ts";
import { type NodeOptions, SporeNode } from "../../src/node.ts";
import { vectors } from "../protocol/vectors.ts";
import { type Logger, loggerOf, type LogLevel } from "../../src/ops/log.ts";

const PKCS8_PREFIX = "302e020100300506032b657004220420";
const encoder = new TextEncoder();

/** Vector key `i` for the first keys, then deterministic test keys derived from `i`. */
export function vectorKey(i = 0): KeyPair {
  if (i < vectors.keys.length) return keyPairFromSeed(hexToBytes(vectors.keys[i]!.seed_hex));
  return keyPairFromSeed(hexToBytes(sha256Hex(`spore-net-test-key-${i}`)));
}

/**
 * Sign a record payload with native Ed25519 (same bytes as `signRecord`, which the protocol tests
 * cover; this one is fast enough to make tens of thousands of records in a test).
 */
export function fastSignRecord(payload: ExperimentPayload, keys: KeyPair): ExperimentRecord {
  const key = createPrivateKey({
    key: Buffer.from(PKCS8_PREFIX + bytesToHex(keys.seed), "hex"),
    format: "der",
    type: "pkcs8",
  });
  const bytes = encoder.encode(canonicalRecord(payload));
  return {
    ...payload,
    id: sha256Hex(bytes),
    signature: bytesToHex(new Uint8Array(sign(null, bytes, key))),
  };
}

/** `n` distinct signed records by `keys`, timestamps from `t0`, a parent chain of keeps. */
export function makeRecords(
  n: number,
  keys: KeyPair = vectorKey(0),
  opts: { t0?: number; tag?: string; codeCid?: string; codeCids?: string[] } = {},
): ExperimentRecord[] {
  const out: ExperimentRecord[] = [];
  const t0 = opts.t0 ?? 1_700_000_000;
  let parent: string | null = null;
  for (let i = 0; i < n; i++) {
    const rec = fastSignRecord({
      version: 1,
      parent,
      depth: parent ? 1 : 0,
      code_cid: opts.codeCids?.[i] ?? opts.codeCid ?? "c".repeat(64),
      diff: `--- a\n+++ b\n@@ ${opts.tag ?? "r"} ${i} @@`,
      dataset_cid: "d".repeat(64),
      prepare_cid: "e".repeat(64),
      time_budget: 300,
      val_bpb: 1.5 - i / (n * 2),
      peak_vram_mb: 1024.5,
      num_steps: 100 + i,
      num_params: 1000,
      status: i % 3 === 2 ? "discard" : "keep",
      description: `${opts.tag ?? "r"} record ${i}`,
      hypothesis: "h",
      agent_model: "test",
      gpu_model: "CPU",
      cuda_version: "",
      torch_version: "2.0",
      node_id: keys.nodeId,
      timestamp: t0 + i,
    }, keys);
    // Every tenth record starts a new branch, so the frontier has several members.
    parent = i % 10 === 9 ? null : rec.id;
    out.push(rec);
  }
  return out;
}

/** A challenge of `experimentId` signed by `key` (challenger bpb 1.25 on CPU). */
export function signedChallenge(experimentId: string, key: KeyPair): ControlEvent {
  const challenge: ControlEvent = {
    type: "challenge",
    payload: {
      event_id: challengeId(experimentId, key.nodeId),
      experiment_id: experimentId,
      challenger_id: key.nodeId,
      challenger_bpb: 1.25,
      challenger_gpu: "CPU",
    },
  };
  return signControl(challenge, key.seed, key.nodeId);
}

/** Fast timing for loopback tests. */
export const FAST = {
  timing: {
    tickMs: 25,
    helloWaitMs: 300,
    markIntervalMs: 50,
    pexIntervalMs: 60_000,
    dialTimeoutMs: 2000,
    backoff: { baseMs: 50, maxMs: 400 },
    artifactDeadlineMs: 5000,
    artifactPerPeerMs: 1500,
  },
};

/** A node on 127.0.0.1:0 in its own temp data dir; `stop()` closes it and deletes the dir. */
export interface TestNode {
  node: SporeNode;
  dir: string;
  keys: KeyPair;
  address: string;
  stop(keepDir?: boolean): Promise<void>;
}

/** Start a loopback node. */
export async function startNode(
  opts: Partial<NodeOptions> & { dir?: string } = {},
): Promise<TestNode> {
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "spore-net-" });
  const keys = opts.keys ?? generateKeyPair();
  const node = await SporeNode.start({
    dataDir: dir,
    keys,
    host: "127.0.0.1",
    port: 0,
    peers: [],
    bootstrap: [],
    knownPeers: [],
    maxPeers: 64,
    verifyWorkers: 1,
    publishPeers: false,
    ...FAST,
    ...opts,
  });
  return {
    node,
    dir,
    keys,
    address: `127.0.0.1:${node.port}`,
    async stop(keepDir = false) {
      await node.close();
      if (!keepDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Poll `cond` every 20 ms until true; throws with `what` after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sorted frontier ids of a node. */
export function frontierIds(t: TestNode): string[] {
  return t.node.stores.graph.frontier().map((r) => r.id).sort();
}

/** A raw TCP peer for speaking the wire protocol by hand (a Python peer, or a hostile one). */
export class RawPeer {
  readonly conn: Deno.TcpConn;
  readonly received: { type: string; payload: unknown }[] = [];
  #closedByPeer = false;
  #reader: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.#reader = this.#read();
  }

  /** Connect to a node on loopback. */
  static async connect(port: number): Promise<RawPeer> {
    return new RawPeer(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Wrap a connection the node opened to us (we play the listening peer). */
  static fromConn(conn: Deno.TcpConn): RawPeer {
    return new RawPeer(conn);
  }

  /** True once the node closed the connection. */
  get closedByPeer(): boolean {
    return this.#closedByPeer;
  }

  /** Send raw bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  /** Send one framed JSON text. */
  sendJson(json: string): Promise<void> {
    return this.write(encodeFrame(json));
  }

  /** Close our side and wait for the reader to finish. */
  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch { /* closed already */ }
    await this.#reader;
  }

  async #read(): Promise<void> {
    const dec = new FrameDecoder();
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        for (const body of dec.push(buf.slice(0, n))) {
          try {
            this.received.push(JSON.parse(new TextDecoder().decode(body)));
          } catch { /* the node only sends JSON; ignore anything else */ }
        }
      }
      this.#closedByPeer = true;
    } catch {
      this.#closedByPeer = true;
    }
    // Release the descriptor as soon as the node hangs up: the 1,000-connection test must fit
    // a default 1024 file limit.
    try {
      this.conn.close();
    } catch { /* already closed by close() */ }
  }
}

/** One entry a {@link MemoryLogger} captured. */
export interface LoggedEntry {
  level: LogLevel;
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every entry in memory, for tests to read. */
export class MemoryLogger {
  readonly entries: LoggedEntry[] = [];
  /** The logger to hand to the code under test. */
  readonly logger: Logger = loggerOf((level, msg, fields = {}) =>
    this.entries.push({ level, msg, fields })
  );

  /** Entries with message `msg`. */
  find(msg: string): LoggedEntry[] {
    return this.entries.filter((e) => e.msg === msg);
  }
}

/** The text a child process has written to `stream` so far, read until the stream ends. */
export function collectText(stream: ReadableStream<Uint8Array>): {
  text(): string;
  done: Promise<void>;
} {
  let out = "";
  const done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) out += chunk;
  })();
  return { text: () => out, done };
}
