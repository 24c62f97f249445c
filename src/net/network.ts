/**
 * The gossip network of one node: listens for peers, dials configured and discovered ones,
 * and handles every message of PROTOCOL.md sections 6 and 8 — records (validated, deduplicated,
 * stored, relayed), sync in both flavours, PEX, artifacts, profiles and control events.
 * @module
 */
import {
  canonicalJson,
  checkControlAuth,
  CONTROL_FLOAT_KEYS,
  CONTROL_TYPES,
  type ControlEvent,
  type ControlType,
  encodeFrame,
  envelope,
  envelopeRaw,
  type ExperimentRecord,
  type HelloPayload,
  type NodeProfile,
  parseAddress,
  recordJson,
  sha256Hex,
  validateProfile,
  type WireMessage,
} from "../protocol/mod.ts";
import { storePaths, type Stores } from "../store/mod.ts";
import type { NodeEvent, PeerInfo } from "../node_types.ts";
import { saveKnownPeers } from "../config.ts";
import { Connection, type ConnectionLimits, DEFAULT_LIMITS } from "./connection.ts";
import { type GraphWriter, InlineGraphWriter, WorkerGraphWriter } from "./graph_writer.ts";
import { type Ingested, RecordIngest } from "./ingest.ts";
import { RecordVerifier } from "./verify_pool.ts";
import type { BackoffPolicy } from "./backoff.ts";
import { PeerBook } from "./peer_book.ts";
import { pexAddresses } from "./pex.ts";
import { streamAfterSeq, streamSinceTimestamp } from "./sync.ts";
import { SyncState } from "./sync_state.ts";
import { ArtifactFetcher } from "./artifacts.ts";
import { LruSet } from "./lru.ts";
import { join } from "node:path";
import { storeThreadsWanted } from "./threads.ts";

/** Receives every new control event (the verification code fills this in). */
export interface ControlHandler {
  onControl(event: ControlEvent, from: PeerInfo | null): Promise<void>;
}

/** A handler that ignores control events (sync-only nodes). */
export const NOOP_CONTROL_HANDLER: ControlHandler = { onControl: () => Promise.resolve() };

/** Feature flag in `hello` for cursor-based incremental sync. */
export const FEATURE_SEQ_SYNC = "seq_sync";

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
  peers: string[];
  bootstrap: string[];
  knownPeers: string[];
  maxPeers: number;
  /** Discovered peers are dialed up to this many outbound connections (default 8). */
  targetOutbound?: number;
  control?: ControlHandler;
  /** Legacy network switch: log and sync unsigned control events too (never badly signed ones). */
  acceptUnsigned?: boolean;
  onEvent?: (e: NodeEvent) => void;
  timing?: Partial<NetTiming>;
  limits?: Partial<ConnectionLimits>;
  /** Signature-check worker threads (default: cores - 1; 0 = in-thread). */
  verifyWorkers?: number;
  agent?: string;
  /**
   * Store received records from a worker thread's own connection (default: with 4+ cores;
   * on fewer the extra thread only competes with validation and costs memory).
   */
  storeInWorker?: boolean;
  /** Records buffered for validation before reading from peers pauses ({@link DEFAULT_MAX_PENDING}). */
  maxPendingRecords?: number;
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

/** `{"type":"x",...}`: our envelopes always start with the type, so no parse is needed. */
const ENVELOPE_TYPE = /^\{"type":"([a-z_]{1,32})"/;

/** Counters for progress displays and tests. */
export interface NetworkStats {
  peers: number;
  received: number;
  stored: number;
  duplicates: number;
  invalid: number;
}

interface LegacyState {
  key: string;
  maxTs: number;
  sinceMark: number;
}

/** Watermarks trail the newest timestamp seen by this much (records are not time-ordered). */
const WATERMARK_MARGIN_S = 3600;

/** A running gossip network. */
export class Network {
  readonly #o: NetworkOptions;
  readonly #t: NetTiming;
  readonly #limits: ConnectionLimits;
  readonly #conns = new Map<number, Connection>();
  readonly #book: PeerBook;
  readonly #ingest: RecordIngest<Connection>;
  readonly #verifier: RecordVerifier;
  readonly #writer: GraphWriter;
  readonly #fetcher: ArtifactFetcher<Connection>;
  readonly #sync: SyncState;
  readonly #legacy = new Map<number, LegacyState>();
  readonly #streaming = new Set<number>();
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #dialAborts = new Set<AbortController>();
  #listener: Deno.TcpListener | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastPex = 0;
  #lastMark = 0;
  /** Peers whose initial incremental sync finished, with the cursors last marked for them. */
  /** Unauthenticated control events already relayed, by their exact bytes. */
  readonly #untrustedSeen = new LruSet(4096);
  readonly #liveMarks = new Map<number, { records: number; profiles: number; control: number }>();
  #knownDirty = false;
  #closed = false;
  #observer: NetObserver = {};
  #port = 0;

  private constructor(o: NetworkOptions, sync: SyncState) {
    this.#o = o;
    this.#t = { ...DEFAULT_TIMING, ...o.timing };
    this.#limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.#sync = sync;
    this.#book = new PeerBook({
      configured: o.peers,
      bootstrap: o.bootstrap,
      known: o.knownPeers,
      backoff: this.#t.backoff,
      targetOutbound: o.targetOutbound ?? 8,
    });
    this.#verifier = new RecordVerifier(o.verifyWorkers);
    const storeInWorker = o.storeInWorker ?? storeThreadsWanted();
    this.#writer = storeInWorker
      ? new WorkerGraphWriter(storePaths(o.dataDir).graph, o.stores.graph)
      : new InlineGraphWriter(o.stores.graph);
    this.#ingest = new RecordIngest<Connection>({
      graph: o.stores.graph,
      writer: this.#writer,
      validate: (raw) => this.#verifier.validate(raw),
      onStored: (batch) => this.#onStored(batch),
      onInvalid: (reason) =>
        this.#observer.dropped?.(
          reason.startsWith("store failed") ? "store_failed" : "invalid_record",
          reason,
        ),
    });
    this.#fetcher = new ArtifactFetcher<Connection>({
      store: o.stores.artifacts,
      peers: () => this.#readyConnections(),
      deadlineMs: this.#t.artifactDeadlineMs,
      perPeerMs: this.#t.artifactPerPeerMs,
    });
  }

  /** Start listening (unless disabled) and dialing. */
  static async start(o: NetworkOptions): Promise<Network> {
    const s = o.stores;
    const sync = await SyncState.load(join(o.dataDir, "db", "net_state.json"), {
      records: s.graph.maxSeq(),
      profiles: s.profiles.maxSeq(),
      control: s.control.maxSeq(),
    });
    const net = new Network(o, sync);
    try {
      if (o.listen !== false) {
        net.#listener = Deno.listen({ hostname: o.host, port: o.port, transport: "tcp" });
        net.#port = (net.#listener.addr as Deno.NetAddr).port;
        net.#track(net.#acceptLoop(net.#listener));
      }
    } catch (e) {
      await net.close();
      throw e;
    }
    net.#timer = setInterval(() => net.#tick(), net.#t.tickMs);
    net.#tick();
    return net;
  }

  /** The listening port (0 when not listening). */
  get port(): number {
    return this.#port;
  }

  /** This node's database epoch. */
  get epoch(): string {
    return this.#sync.epoch;
  }

  /** Live connections. */
  connections(): Connection[] {
    return [...this.#conns.values()].filter((c) => !c.closed);
  }

  /** Live peers for status displays. */
  peers(): PeerInfo[] {
    return this.connections().map(peerInfo);
  }

  /** Every address known to the dialer, with its source. */
  addresses(): ReturnType<PeerBook["list"]> {
    return this.#book.list();
  }

  /** Counters since start. */
  stats(): NetworkStats {
    const i = this.#ingest.stats;
    return {
      peers: this.connections().length,
      received: i.received,
      stored: i.stored,
      duplicates: i.duplicates,
      invalid: i.invalid,
    };
  }

  /** Report traffic to `observer` from now on (metrics, log); replaces any earlier one. */
  observe(observer: NetObserver): void {
    this.#observer = observer;
  }

  /** Records received and not yet stored or dropped (a queue depth). */
  get pendingRecords(): number {
    return this.#ingest.pending;
  }

  /** Dial `address` now (it joins the configured peers for this run). */
  connect(address: string): void {
    this.#book.add(address, "configured");
    this.#tick();
  }

  /** Resolve once every record received so far is stored or dropped. */
  flush(): Promise<void> {
    return this.#ingest.flush();
  }

  /**
   * Store and gossip a record this node created. Throws when it does not validate.
   * Returns false when it was already stored.
   */
  async publish(record: ExperimentRecord): Promise<boolean> {
    const v = await this.#verifier.validate(record);
    if (!v.ok) throw new Error(`refusing to publish an invalid record: ${v.reason}`);
    if (!this.#o.stores.graph.insert(v.value)) return false;
    this.#onStored([{ record: v.value, source: null }]);
    return true;
  }

  /** Store and gossip a profile (ours or anyone's); false when not newer than the stored one. */
  async publishProfile(profile: NodeProfile): Promise<boolean> {
    return await this.#acceptProfile(profile, null);
  }

  /** Log and gossip a control event created here; false when already logged. */
  broadcastControl(event: ControlEvent): Promise<boolean> {
    return this.#acceptControl(event, null, false);
  }

  /** Fetch an artifact locally or from peers (preferring `preferNodeId`'s connection). */
  fetchArtifact(cid: string, preferNodeId?: string): Promise<Uint8Array | undefined> {
    const preferred = preferNodeId
      ? this.connections().find((c) => c.hello?.node_id === preferNodeId)
      : undefined;
    return this.#fetcher.fetch(cid, preferred);
  }

  /** Stop: no new connections, close every peer, store everything received, save state. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const a of this.#dialAborts) a.abort();
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    for (const c of this.#conns.values()) c.close("node shutting down");
    this.#fetcher.close();
    await Promise.allSettled([...this.#tasks]);
    await this.#ingest.flush();
    this.#verifier.close();
    await this.#writer.close();
    await this.#saveKnown();
    this.#sync.noteHighWater(this.#seqs());
    await this.#sync.close();
  }

  // ---- connections ------------------------------------------------------------------------

  #track<T>(p: Promise<T>): void {
    const t = p.catch(() => undefined).finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (this.#closed || e instanceof Deno.errors.BadResource) return;
        // Out of file descriptors and the like: back off a little instead of spinning.
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (this.#closed || this.connections().length >= this.#o.maxPeers) {
        try {
          conn.close();
        } catch { /* gone already */ }
        continue;
      }
      this.#adopt(conn, true);
    }
  }

  async #dial(address: string): Promise<void> {
    const parsed = parseAddress(address);
    if (!parsed.ok) return this.#book.markSelf(address); // never valid: stop trying
    const { host, port } = parsed.value;
    this.#book.dialing(address);
    const abort = new AbortController();
    this.#dialAborts.add(abort);
    const timer = setTimeout(() => abort.abort(), this.#t.dialTimeoutMs);
    try {
      const conn = await Deno.connect({ hostname: host, port, signal: abort.signal });
      if (this.#closed || this.connections().length >= this.#o.maxPeers) {
        conn.close();
        this.#book.failed(address, Date.now());
        return;
      }
      this.#book.connected(address);
      this.#adopt(conn, false, address);
    } catch {
      this.#book.failed(address, Date.now());
    } finally {
      clearTimeout(timer);
      this.#dialAborts.delete(abort);
    }
  }

  #adopt(tcp: Deno.TcpConn, inbound: boolean, dialedAddress?: string): void {
    const conn = new Connection(tcp, {
      inbound,
      dialedAddress,
      limits: this.#limits,
      now: Date.now,
      events: {
        onMessage: (c, m) => this.#onMessage(c, m),
        onInvalid: (_c, reason) => this.#observer.dropped?.("invalid_message", reason),
        onClose: (c) => this.#onClose(c),
      },
    });
    // Every text message out of this connection (ours, sync streams, artifacts) passes here;
    // counted only when someone observes, and only when actually queued.
    const send = conn.send.bind(conn);
    conn.send = (json: string): boolean => {
      const queued = send(json);
      if (queued && this.#observer.messageOut) {
        this.#observer.messageOut(ENVELOPE_TYPE.exec(json)?.[1] ?? "other");
      }
      return queued;
    };
    this.#conns.set(conn.id, conn);
    const hello: HelloPayload = {
      node_id: this.#o.nodeId,
      listen_port: this.#port,
      agent: this.#o.agent ?? "spore-ts",
      features: [FEATURE_SEQ_SYNC],
      db_epoch: this.#sync.epoch,
    };
    conn.send(envelope("hello", hello));
    this.#track(conn.start());
  }

  #onClose(c: Connection): void {
    this.#conns.delete(c.id);
    this.#streaming.delete(c.id);
    this.#liveMarks.delete(c.id);
    const legacy = this.#legacy.get(c.id);
    if (legacy) {
      this.#legacy.delete(c.id);
      this.#saveWatermark(legacy);
    }
    if (c.dialedAddress && !this.#closed) this.#book.disconnected(c.dialedAddress, Date.now());
    if (c.hello || legacy) {
      this.#emit({ kind: "peer", state: "down", address: c.address, nodeId: c.hello?.node_id });
    }
  }

  /** Connections that finished their handshake (hello, or known to be a Python peer). */
  #readyConnections(): Connection[] {
    return this.connections().filter((c) => c.hello || this.#legacy.has(c.id));
  }

  // ---- housekeeping -----------------------------------------------------------------------

  #tick(): void {
    if (this.#closed) return;
    const now = Date.now();
    for (const c of this.connections()) {
      c.tick(now);
      if (
        !c.closed && !c.hello && !this.#legacy.has(c.id) &&
        now - c.connectedAt > this.#t.helloWaitMs
      ) {
        this.#startLegacy(c);
      }
    }
    const live = this.connections();
    const nodes = new Set(live.flatMap((c) => c.hello ? [c.hello.node_id] : []));
    const outbound = live.filter((c) => !c.inbound).length;
    let room = this.#o.maxPeers - live.length;
    for (const address of this.#book.due(now, outbound, nodes)) {
      if (room-- <= 0) break;
      this.#track(this.#dial(address));
    }
    if (now - this.#lastMark > this.#t.markIntervalMs) {
      this.#lastMark = now;
      this.#sendLiveMarks();
    }
    if (now - this.#lastPex > this.#t.pexIntervalMs) {
      this.#lastPex = now;
      for (const c of this.#readyConnections()) c.send(envelope("pex_request", {}));
    }
    if (this.#knownDirty) this.#track(this.#saveKnown());
    this.#sync.noteHighWater(this.#seqs());
  }

  /**
   * Tell incremental-sync peers how far they are covered by live gossip, so a reconnect asks
   * only for what came after. Everything this node stores is relayed to every ready peer right
   * after its commit (or came from that peer), and a mark is queued behind those relays.
   */
  #sendLiveMarks(): void {
    const cur = this.#seqs();
    for (const [id, last] of this.#liveMarks) {
      const c = this.#conns.get(id);
      if (!c || c.closed) {
        this.#liveMarks.delete(id);
        continue;
      }
      if (this.#streaming.has(id)) continue;
      if (
        cur.records === last.records && cur.profiles === last.profiles &&
        cur.control === last.control
      ) continue;
      c.send(envelope("sync_mark", { db_epoch: this.#sync.epoch, ...cur, done: true }));
      this.#liveMarks.set(id, cur);
    }
  }

  #seqs() {
    const s = this.#o.stores;
    return {
      records: s.graph.maxSeq(),
      profiles: s.profiles.maxSeq(),
      control: s.control.maxSeq(),
    };
  }

  async #saveKnown(): Promise<void> {
    if (!this.#knownDirty) return;
    this.#knownDirty = false;
    try {
      await saveKnownPeers(this.#o.dataDir, this.#book.discovered());
    } catch { /* the list is a hint; the next change retries */ }
  }

  // ---- messages ---------------------------------------------------------------------------

  #onMessage(c: Connection, m: WireMessage): void | Promise<void> {
    this.#observer.messageIn?.(m.type);
    if (m.type === "hello") return this.#onHello(c, m.payload);
    // Our nodes always say hello first: anything else first means a Python peer.
    if (!c.hello && !this.#legacy.has(c.id)) this.#startLegacy(c);
    switch (m.type) {
      case "experiment":
        return this.#onRecord(c, m.payload);
      case "sync_request":
        return this.#stream(
          c,
          (sink) => streamSinceTimestamp(this.#o.stores, sink, m.payload.since),
        );
      case "sync_seq":
        return this.#stream(c, async (sink) => {
          const sent = await streamAfterSeq(this.#o.stores, sink, this.#sync.epoch, m.payload);
          // From now on this peer gets everything live, so live marks can move its cursor.
          if (!c.closed) this.#liveMarks.set(c.id, this.#seqs());
          return sent;
        });
      case "sync_mark":
        return this.#onSyncMark(c, m.payload);
      case "pex_request":
        c.send(envelope("pex_response", { peer: pexAddresses(this.connections(), c) }));
        return;
      case "pex_response":
        for (const a of m.payload.peer) {
          if (this.#book.add(a, "discovered")) this.#knownDirty = true;
        }
        return;
      case "code_request":
        this.#track(this.#fetcher.serve(c, m.payload.code_cid));
        return;
      case "code_response":
        this.#fetcher.onResponse(c, m.payload.code_cid, m.payload.code);
        return;
      case "profile":
        return this.#acceptProfile(m.payload, c).then(() => undefined);
      case "challenge":
      case "challenge_response":
      case "verification":
      case "dispute":
        return this.#acceptControl(m as ControlEvent, c, true).then(() => undefined);
      default:
        return; // pong, unknown types: nothing to do
    }
  }

  #onHello(c: Connection, hello: HelloPayload): void {
    if (c.hello || this.#legacy.has(c.id)) return; // only the first counts
    if (hello.node_id === this.#o.nodeId) {
      if (c.dialedAddress) this.#book.markSelf(c.dialedAddress);
      return c.close("connected to ourselves");
    }
    const other = this.connections().find((d) => d !== c && d.hello?.node_id === hello.node_id);
    if (other) {
      // Both ends apply the same rule, so they keep the same connection: the one dialed by the
      // lower node_id; between two of the same direction, the older.
      const preferInbound = hello.node_id < this.#o.nodeId;
      const keepOther = other.inbound === c.inbound || other.inbound === preferInbound;
      if (keepOther) {
        if (c.dialedAddress) this.#book.identified(c.dialedAddress, hello.node_id);
        return c.close("duplicate connection");
      }
      other.close("duplicate connection");
    }
    c.hello = hello;
    if (c.dialedAddress) this.#book.identified(c.dialedAddress, hello.node_id);
    this.#emit({ kind: "peer", state: "up", address: c.address, nodeId: hello.node_id });
    if (hello.features.includes(FEATURE_SEQ_SYNC)) {
      const cur = this.#sync.cursor(hello.node_id, hello.db_epoch);
      c.send(envelope("sync_seq", { db_epoch: hello.db_epoch, ...cur }));
    } else {
      c.send(envelope("sync_request", { since: 0 }));
    }
    c.send(envelope("pex_request", {}));
  }

  /** A peer without `hello`: Python-compatible sync from our per-address watermark. */
  #startLegacy(c: Connection): void {
    const key = c.dialedAddress ?? c.remoteHost;
    this.#legacy.set(c.id, { key, maxTs: 0, sinceMark: 0 });
    this.#emit({ kind: "peer", state: "up", address: c.address });
    const since = Math.max(0, this.#sync.watermark(key) - WATERMARK_MARGIN_S);
    c.send(envelope("sync_request", { since }));
    c.send(envelope("pex_request", {}));
  }

  #onRecord(c: Connection, raw: unknown): void | Promise<void> {
    c.recordsReceived++;
    const legacy = this.#legacy.get(c.id);
    if (legacy) {
      const ts = (raw as { timestamp?: unknown }).timestamp;
      if (typeof ts === "number" && Number.isSafeInteger(ts) && ts > legacy.maxTs) {
        legacy.maxTs = ts;
      }
      if (++legacy.sinceMark >= 1000) {
        legacy.sinceMark = 0;
        this.#saveWatermark(legacy);
      }
    }
    this.#ingest.submit(raw, c);
    const max = this.#o.maxPendingRecords ?? DEFAULT_MAX_PENDING;
    // Stop reading from this peer until validation catches up: TCP pushes back on the sender.
    if (this.#ingest.pending >= max) return this.#ingest.whenBelow(max / 2);
  }

  #saveWatermark(l: LegacyState): void {
    const ts = l.maxTs;
    if (ts <= 0) return;
    this.#ingest.afterPending((durable) => {
      if (durable) this.#sync.raiseWatermark(l.key, ts);
    });
  }

  #onSyncMark(
    c: Connection,
    mark: { db_epoch: string; records: number; profiles: number; control: number; done: boolean },
  ): void {
    const nodeId = c.hello?.node_id;
    if (!nodeId || c.hello?.db_epoch !== mark.db_epoch) return;
    this.#ingest.afterPending((durable) => {
      if (durable) this.#sync.setCursor(nodeId, mark.db_epoch, mark);
    });
  }

  #stream(c: Connection, run: (sink: Connection) => Promise<number>): void {
    // One stream per connection: a repeated request while streaming is ignored.
    if (this.#streaming.has(c.id)) return;
    this.#streaming.add(c.id);
    this.#track(run(c).finally(() => this.#streaming.delete(c.id)));
  }

  // ---- storing and relaying ---------------------------------------------------------------

  #onStored(batch: Ingested<Connection>[]): void {
    const targets = this.#readyConnections();
    for (const { record, source } of batch) {
      this.#emit({ kind: "experiment", record, source: source ? "peer" : "local" });
      // Encode once per record and only when someone besides the source will get it.
      let frame: Uint8Array | undefined;
      for (const t of targets) {
        if (t === source) continue;
        frame ??= encodeFrame(envelopeRaw("experiment", recordJson(record)));
        if (t.sendFrame(frame)) this.#observer.messageOut?.("experiment");
      }
      if (source) this.#fetcher.prefetch(record.code_cid, source);
    }
  }

  async #acceptProfile(raw: unknown, from: Connection | null): Promise<boolean> {
    const v = await validateProfile(raw);
    if (!v.ok) return false;
    let stored: boolean;
    try {
      stored = this.#o.stores.profiles.upsert(v.value);
    } catch {
      return false;
    }
    if (!stored) return false;
    this.#emit({ kind: "profile", profile: v.value });
    const json = envelope("profile", v.value);
    for (const t of this.#readyConnections()) if (t !== from) t.send(json);
    return true;
  }

  /**
   * Dedupe, log, hand on and relay a control event. Only authenticated events (signed by the
   * acting node, or unsigned on a legacy network) enter the control log: the log keeps the first
   * copy of an event id, so a forged copy logged first would block the genuine event forever.
   * Others are still relayed once (deduplicated by their exact bytes), but never logged.
   */
  async #acceptControl(
    event: ControlEvent,
    from: Connection | null,
    notify: boolean,
  ): Promise<boolean> {
    if (!CONTROL_TYPES.includes(event.type as ControlType)) return false;
    let json: string;
    try {
      json = envelopeRaw(event.type, canonicalJson(event.payload, CONTROL_FLOAT_KEYS));
    } catch {
      return false; // NaN or other values that cannot be re-encoded faithfully
    }
    const auth = await checkControlAuth(event);
    const trusted = auth === "signed" || (auth === "unsigned" && this.#o.acceptUnsigned === true);
    if (trusted) {
      let seq: number | null;
      try {
        seq = this.#o.stores.control.append(event.type, event.payload);
      } catch {
        return false; // oversized or unstorable: neither applied nor relayed
      }
      if (seq === null) return false;
    } else {
      const key = sha256Hex(json);
      if (this.#untrustedSeen.has(key)) return false;
      this.#untrustedSeen.add(key);
    }
    if (notify) {
      const handler = this.#o.control ?? NOOP_CONTROL_HANDLER;
      // Not tracked for shutdown: a handler may run long (a verification rerun) and a trusted
      // event is already logged, so nothing is lost by not waiting for it.
      handler.onControl(event, from ? peerInfo(from) : null).catch(() => {});
    }
    this.#emit({ kind: "control", event });
    for (const t of this.#readyConnections()) if (t !== from) t.send(json);
    return true;
  }

  #emit(e: NodeEvent): void {
    try {
      this.#o.onEvent?.(e);
    } catch { /* a failing listener must not break the network */ }
  }
}

function peerInfo(c: Connection): PeerInfo {
  return {
    address: c.address,
    nodeId: c.hello?.node_id,
    agent: c.hello?.agent,
    inbound: c.inbound,
    connectedAt: c.connectedAt,
  };
}
