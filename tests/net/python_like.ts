/**
 * A raw-socket peer that behaves as PROTOCOL.md section 11 describes the Python node: it never
 * sends `hello`; it pushes its own signed profile once at connect; it answers `sync_request` with
 * the records it holds, `code_request` only for files it holds (silence otherwise), `ping` with
 * `pong`; and it keeps every message it received, so a test can look at what reached it.
 */
import { Buffer } from "node:buffer";
import {
  envelope,
  envelopeRaw,
  type ExperimentRecord,
  type NodeProfile,
  recordJson,
  sha256Hex,
} from "../../src/protocol/mod.ts";
import { RawPeer } from "./helpers.ts";

/** What the peer holds. */
export interface PythonLikeOptions {
  records?: ExperimentRecord[];
  /** Code files it serves, keyed by their cid. */
  code?: Map<string, Uint8Array>;
  /** Pushed once right after connecting, as the Python node does at start. */
  profile?: NodeProfile;
  /** Gossiped right after connecting, as the Python node broadcasts what it just published. */
  publish?: ExperimentRecord[];
}

/** One connection of a Python-like peer to a node. */
export class PythonLikePeer {
  readonly raw: RawPeer;
  readonly #o: PythonLikeOptions;
  #handled = 0;
  #running = true;
  readonly #loop: Promise<void>;
  /** cids it was asked for, in order. */
  readonly asked: string[] = [];

  private constructor(raw: RawPeer, o: PythonLikeOptions) {
    this.raw = raw;
    this.#o = o;
    this.#loop = this.#serve();
  }

  /** Connect to a node listening on loopback `port`. */
  static async connect(port: number, o: PythonLikeOptions = {}): Promise<PythonLikePeer> {
    return await PythonLikePeer.#greet(await RawPeer.connect(port), o);
  }

  /** Accept the next connection a node dials to `listener` (we are its configured peer). */
  static async accept(
    listener: Deno.TcpListener,
    o: PythonLikeOptions = {},
  ): Promise<PythonLikePeer> {
    return await PythonLikePeer.#greet(RawPeer.fromConn(await listener.accept()), o);
  }

  static async #greet(raw: RawPeer, o: PythonLikeOptions): Promise<PythonLikePeer> {
    if (o.profile) await raw.sendJson(envelope("profile", o.profile));
    for (const r of o.publish ?? []) await raw.sendJson(envelopeRaw("experiment", recordJson(r)));
    return new PythonLikePeer(raw, o);
  }

  /** Every message received of `type`. */
  messages(type: string): unknown[] {
    return this.raw.received.filter((m) => m.type === type).map((m) => m.payload);
  }

  /** Send one message the way the Python node frames it (sorted keys, indent 2). */
  send(type: string, payload: unknown): Promise<void> {
    return this.raw.sendJson(JSON.stringify({ type, payload }, null, 2));
  }

  /** Stop answering and close the connection. */
  async close(): Promise<void> {
    this.#running = false;
    await this.#loop;
    await this.raw.close();
  }

  async #serve(): Promise<void> {
    while (this.#running && !this.raw.closedByPeer) {
      const msgs = this.raw.received.slice(this.#handled);
      this.#handled += msgs.length;
      for (const m of msgs) {
        if (!this.#running) return;
        await this.#answer(m).catch(() => {});
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async #answer(m: { type: string; payload: unknown }): Promise<void> {
    const p = m.payload as Record<string, unknown>;
    if (m.type === "ping") return this.raw.sendJson(envelope("pong", {}));
    if (m.type === "sync_request") {
      const since = typeof p.since === "number" ? p.since : 0;
      for (const r of this.#o.records ?? []) {
        if (r.timestamp >= since) await this.raw.sendJson(envelopeRaw("experiment", recordJson(r)));
      }
      return;
    }
    if (m.type === "code_request" && typeof p.code_cid === "string") {
      this.asked.push(p.code_cid);
      const bytes = this.#o.code?.get(p.code_cid);
      if (!bytes) return; // the Python node stays silent when it lacks the file
      await this.raw.sendJson(envelope("code_response", {
        code_cid: p.code_cid,
        code: Buffer.from(bytes).toString("base64"),
      }));
    }
  }
}

/** `n` distinct code files of about `size` bytes, keyed by cid, in order. */
export function codeFiles(n: number, size = 2048, tag = "f"): [string, Uint8Array][] {
  const pad = "# " + "x".repeat(Math.max(0, size - 64)) + "\n";
  return Array.from({ length: n }, (_, i) => {
    const bytes = new TextEncoder().encode(`# train.py ${tag} ${i}\n${pad}print(${i})\n`);
    return [sha256Hex(bytes), bytes];
  });
}
