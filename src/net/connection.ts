/**
 * One TCP connection to a peer: a read loop that turns bytes into validated messages, and a
 * bounded write queue so a slow peer only ever costs its own connection. Timeouts (idle, stalled
 * half-frame, stalled write, silent newcomer) are checked by {@link Connection.tick}, which the
 * network calls on one shared timer.
 * @module
 */
import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  type HelloPayload,
  parseMessage,
  type WireMessage,
} from "../protocol/mod.ts";
import type { PeerInfo } from "../node_types.ts";
import { addressGroup } from "./slots.ts";
import { errorText, isProgrammerError, safetyCatch } from "../errors.ts";

/** Limits and timeouts of one connection (milliseconds and bytes). */
export interface ConnectionLimits {
  /** Queued outgoing bytes beyond which the peer is too slow and is dropped. */
  maxQueuedBytes: number;
  /** No byte received for this long: the peer is gone. */
  idleTimeoutMs: number;
  /** Send a `ping` after this long without sending anything. */
  pingIntervalMs: number;
  /**
   * A frame not finished this long after its first byte: dropped (slowloris). Counted in time
   * spent waiting for the peer's bytes, so a busy node never blames a peer for its own delays.
   */
  frameTimeoutMs: number;
  /**
   * Average bytes per second a frame in flight must keep once it is older than
   * `frameRateGraceMs`: a peer trickling a frame is dropped before the deadline.
   */
  minFrameBytesPerSec: number;
  /** Age of a frame in flight before its rate is judged. */
  frameRateGraceMs: number;
  /** A write that does not complete for this long: dropped. */
  writeTimeoutMs: number;
  /** A peer that dialed us and sent no valid message for this long: dropped. */
  handshakeTimeoutMs: number;
  /** Invalid messages tolerated before the peer is dropped. */
  maxInvalid: number;
}

/** Defaults suited to the public network. */
export const DEFAULT_LIMITS: ConnectionLimits = {
  maxQueuedBytes: 32 * 1024 * 1024,
  idleTimeoutMs: 180_000,
  pingIntervalMs: 60_000,
  // A maximal record frame (1.06 MiB) needs 18 KB/s to make it; a 1 Mbit/s link does 125 KB/s.
  frameTimeoutMs: 60_000,
  minFrameBytesPerSec: 4096,
  frameRateGraceMs: 10_000,
  writeTimeoutMs: 120_000,
  handshakeTimeoutMs: 30_000,
  maxInvalid: 1_000,
};

/** What the owner of a connection is told. */
export interface ConnectionEvents {
  /** A valid message; a returned promise pauses reading until it settles (backpressure). */
  onMessage(conn: Connection, msg: WireMessage): void | Promise<void>;
  /** A frame that failed validation (counted; the connection closes past the limit). */
  onInvalid?(conn: Connection, reason: string): void;
  /** The connection closed; called once. */
  onClose(conn: Connection, reason: string): void;
  /**
   * A text message was queued by {@link Connection.send} (traffic counters): its envelope type,
   * or `other`.
   */
  onSent?(conn: Connection, type: string): void;
  /** After each read: bytes of unfinished frames this connection holds (0 after close). */
  onBuffered?(conn: Connection, bytes: number): void;
}

/** Handles one parsed message type; a returned promise pauses reading from the peer. */
export type MessageHandler<C, T extends WireMessage["type"]> = (
  c: C,
  m: Extract<WireMessage, { type: T }>,
) => void | Promise<void>;

/** A dispatch table: a handler per message type; types without one are ignored. */
export type MessageHandlers<C> = { [T in WireMessage["type"]]?: MessageHandler<C, T> };

/** `{"type":"x",...}`: our envelopes always start with the type, so no parse is needed. */
const ENVELOPE_TYPE = /^\{"type":"([a-z_]{1,32})"/;

interface DrainWaiter {
  low: number;
  resolve: () => void;
}

let nextId = 1;
const READ_CHUNK = 256 * 1024;
const COALESCE_BYTES = 256 * 1024;
const PING = encodeFrame('{"type":"ping","payload":{}}');

/** A live connection with its peer's identity once `hello` arrived. */
export class Connection {
  /** Process-unique number, for logs and maps. */
  readonly id: number = nextId++;
  /** Remote IP as seen on the socket. */
  readonly remoteHost: string;
  /** Address group of the remote host (/24 or /64), for inbound slot limits. */
  readonly group: string;
  /** Remote port as seen on the socket (ephemeral for inbound connections). */
  readonly remotePort: number;
  /** True when the peer dialed us. */
  readonly inbound: boolean;
  /** The address we dialed (outbound only): the peer's real listening address. */
  readonly dialedAddress?: string | undefined;
  /** When the connection was established (ms, injected clock). */
  readonly connectedAt: number;
  /** The peer's `hello`, once received (our own nodes send one first). */
  hello?: HelloPayload;
  /** Experiment messages received on this connection. */
  recordsReceived = 0;
  /** Invalid frames received. */
  invalidCount = 0;
  /** When this peer last gave us a record we did not have (0: never); for eviction. */
  lastNewRecordAt = 0;
  /** Best ping round trip measured, ms (Infinity until a pong answers our ping). */
  rttMs = Infinity;

  readonly #conn: Deno.TcpConn;
  readonly #limits: ConnectionLimits;
  readonly #events: ConnectionEvents;
  readonly #now: () => number;
  #decoder = new FrameDecoder();
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #writeStartedAt = -1;
  #lastRecv: number;
  #lastSend: number;
  #gotValid = false;
  /** True while a frame is in flight (its first bytes came, its last did not). */
  #inFrame = false;
  /** Bytes of it received. */
  #frameBytes = 0;
  /**
   * Time spent waiting on the socket since the frame's first byte: the time the peer had to
   * send. Time this node spends elsewhere (processing other peers on a busy event loop, or
   * pausing reads for its own backpressure) is not the peer's fault and does not count.
   */
  #frameWaitMs = 0;
  /** When the pending socket read began (-1: no read pending). */
  #readStartedAt = -1;
  /** When our last ping went out (-1: none unanswered). */
  #pingSentAt = -1;
  #closed = false;
  #drainWaiters: DrainWaiter[] = [];
  #done!: Promise<void>;

  constructor(
    conn: Deno.TcpConn,
    opts: {
      inbound: boolean;
      dialedAddress?: string | undefined;
      limits: ConnectionLimits;
      events: ConnectionEvents;
      now: () => number;
    },
  ) {
    this.#conn = conn;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remoteHost = addr.hostname;
    this.group = addressGroup(addr.hostname);
    this.remotePort = addr.port;
    this.inbound = opts.inbound;
    this.dialedAddress = opts.dialedAddress;
    this.#limits = opts.limits;
    this.#events = opts.events;
    this.#now = opts.now;
    this.connectedAt = this.#lastRecv = this.#lastSend = opts.now();
    try {
      conn.setNoDelay(true);
    } catch (e) {
      safetyCatch(e); // not fatal: only latency
    }
  }

  /** Start reading. Resolves when the connection is closed and the read loop has ended. */
  start(): Promise<void> {
    this.#done = this.#readLoop();
    return this.#done;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes of an unfinished frame held (for eviction). */
  get bufferedBytes(): number {
    return this.#decoder.pending;
  }

  /** Bytes queued for sending. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** `host:port` for logs and the peer list: the dialed address when we have one. */
  get address(): string {
    if (this.dialedAddress) return this.dialedAddress;
    const h = this.remoteHost.includes(":") ? `[${this.remoteHost}]` : this.remoteHost;
    return `${h}:${this.remotePort}`;
  }

  /** The peer as status displays and control handlers see it. */
  get info(): PeerInfo {
    return {
      address: this.address,
      nodeId: this.hello?.node_id,
      agent: this.hello?.agent,
      inbound: this.inbound,
      connectedAt: this.connectedAt,
    };
  }

  /** Queue a message (JSON text of the envelope). False when closed or dropped as too slow. */
  send(json: string): boolean {
    if (this.#closed) return false;
    let frame: Uint8Array;
    try {
      frame = encodeFrame(json);
    } catch {
      return false; // over the frame cap: never sent, connection kept
    }
    const queued = this.sendFrame(frame);
    if (queued && this.#events.onSent) {
      this.#events.onSent(this, ENVELOPE_TYPE.exec(json)?.[1] ?? "other");
    }
    return queued;
  }

  /** Queue an encoded frame (shared between peers when relaying). */
  sendFrame(frame: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.#queued + frame.length > this.#limits.maxQueuedBytes) {
      this.close("peer too slow: write queue full");
      return false;
    }
    this.#queue.push(frame);
    this.#queued += frame.length;
    if (!this.#writing) this.#flush();
    return true;
  }

  /** Resolve once at most `lowWater` bytes are queued, or the connection closed. */
  drained(lowWater: number): Promise<void> {
    if (this.#closed || this.#queued <= lowWater) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push({ low: lowWater, resolve }));
  }

  /** Apply timeouts and keepalive at time `now`. */
  tick(now: number): void {
    if (this.#closed) return;
    const l = this.#limits;
    // Only for peers that dialed us (the idle-flood case): a peer we dialed may rightly stay
    // silent until our keepalive ping, which the idle timeout covers.
    if (this.inbound && !this.#gotValid && now - this.connectedAt > l.handshakeTimeoutMs) {
      return this.close("no valid message after connecting");
    }
    if (now - this.#lastRecv > l.idleTimeoutMs) return this.close("idle timeout");
    if (this.#inFrame) {
      const age = this.#frameWaitMs + (this.#readStartedAt >= 0 ? now - this.#readStartedAt : 0);
      if (age > l.frameTimeoutMs) {
        return this.close(`frame not completed within ${l.frameTimeoutMs} ms of its first byte`);
      }
      const rate = this.#frameBytes * 1000 / Math.max(1, age);
      if (age > l.frameRateGraceMs && rate < l.minFrameBytesPerSec) {
        return this.close(
          `frame arriving too slowly (${Math.round(rate)} B/s, minimum ${l.minFrameBytesPerSec})`,
        );
      }
    }
    if (this.#writeStartedAt >= 0 && now - this.#writeStartedAt > l.writeTimeoutMs) {
      return this.close("write stalled");
    }
    if (now - this.#lastSend > l.pingIntervalMs) {
      this.#lastSend = now;
      if (this.#pingSentAt < 0) this.#pingSentAt = now;
      this.sendFrame(PING);
    }
  }

  /** Close the socket (idempotent); `reason` goes to `onClose`. */
  close(reason = "closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch (e) {
      safetyCatch(e); // already closed by the peer
    }
    this.#queue = [];
    this.#queued = 0;
    this.#decoder = new FrameDecoder(); // what it buffered is garbage now
    this.#inFrame = false;
    this.#events.onBuffered?.(this, 0);
    for (const w of this.#drainWaiters.splice(0)) w.resolve();
    this.#events.onClose(this, reason);
  }

  /** Resolves when the read loop has ended (after close). */
  get finished(): Promise<void> {
    return this.#done ?? Promise.resolve();
  }

  async #readLoop(): Promise<void> {
    let reason = "peer closed the connection";
    try {
      const buf = new Uint8Array(READ_CHUNK);
      while (!this.#closed) {
        this.#readStartedAt = this.#now();
        const n = await this.#conn.read(buf);
        this.#lastRecv = this.#now();
        if (this.#inFrame) this.#frameWaitMs += this.#lastRecv - this.#readStartedAt;
        this.#readStartedAt = -1;
        if (n === null) break;
        let bodies: Uint8Array[];
        try {
          // The decoder keeps references to what it is given: hand it a copy of this read.
          bodies = this.#decoder.push(buf.slice(0, n));
        } catch (e) {
          reason = e instanceof FrameError ? e.message : "bad frame";
          break;
        }
        this.#noteFrameProgress(n, bodies.length > 0);
        if (this.#closed) break; // the receive budget closed it
        for (const body of bodies) {
          if (this.#closed) break;
          const parsed = parseMessage(body);
          if (!parsed.ok) {
            this.invalidCount++;
            this.#events.onInvalid?.(this, parsed.reason);
            if (this.invalidCount > this.#limits.maxInvalid) {
              reason = "too many invalid messages";
              this.close(reason);
              break;
            }
            continue;
          }
          this.#gotValid = true;
          if (parsed.value.type === "ping") {
            this.send('{"type":"pong","payload":{}}');
            continue;
          }
          if (parsed.value.type === "pong" && this.#pingSentAt >= 0) {
            this.rttMs = Math.min(this.rttMs, this.#now() - this.#pingSentAt);
            this.#pingSentAt = -1;
          }
          const pending = this.#events.onMessage(this, parsed.value);
          if (pending) await pending;
        }
      }
    } catch (e) {
      if (isProgrammerError(e)) {
        // A bug in a message handler: close this connection and let the error surface.
        this.close(`internal error: ${errorText(e)}`);
        throw e;
      }
      if (!this.#closed) reason = `read failed: ${errorText(e)}`;
    }
    this.close(reason);
  }

  /**
   * Track the frame in flight after a read of `n` bytes (`completed`: it finished at least one
   * frame, so what remains buffered is a new frame that started in this read).
   */
  #noteFrameProgress(n: number, completed: boolean): void {
    const pending = this.#decoder.pending;
    if (pending === 0) {
      this.#inFrame = false;
    } else if (!this.#inFrame || completed) {
      this.#inFrame = true;
      this.#frameBytes = completed ? pending : n;
      this.#frameWaitMs = 0;
    } else {
      this.#frameBytes += n;
    }
    this.#events.onBuffered?.(this, pending);
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const chunk = this.#takeChunk();
        this.#writeStartedAt = this.#now();
        let off = 0;
        while (off < chunk.length) off += await this.#conn.write(chunk.subarray(off));
        if (this.#closed) return;
        this.#writeStartedAt = -1;
        this.#lastSend = this.#now();
        this.#queued -= chunk.length;
        this.#wakeDrainWaiters();
      }
    } catch (e) {
      this.close(`write failed: ${errorText(e)}`);
      safetyCatch(e);
    } finally {
      this.#writing = false;
      this.#writeStartedAt = -1;
    }
  }

  /** Take queued frames up to a coalescing limit as one buffer: fewer syscalls per record. */
  #takeChunk(): Uint8Array {
    const first = this.#queue[0];
    if (first === undefined) throw new RangeError("connection: no queued frame to take");
    if (this.#queue.length === 1 || first.length >= COALESCE_BYTES) {
      this.#queue.shift();
      return first;
    }
    let n = 0;
    let k = 0;
    for (const f of this.#queue) {
      if (n + f.length > COALESCE_BYTES) break;
      n += f.length;
      k++;
    }
    const out = new Uint8Array(n);
    let off = 0;
    for (const f of this.#queue.splice(0, k)) {
      out.set(f, off);
      off += f.length;
    }
    return out;
  }

  #wakeDrainWaiters(): void {
    if (this.#drainWaiters.length === 0) return;
    const keep: DrainWaiter[] = [];
    for (const w of this.#drainWaiters) {
      if (this.#queued <= w.low) w.resolve();
      else keep.push(w);
    }
    this.#drainWaiters = keep;
  }
}
