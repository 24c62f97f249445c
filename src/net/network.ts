/**
 * The gossip network of one node: listens for peers, dials configured and discovered ones, and
 * routes every message of PROTOCOL.md sections 6 and 8 through one dispatch table. The concerns
 * live beside it: records ({@link RecordIngest}), sync with our nodes ({@link SyncSessions}) and
 * with Python peers ({@link LegacySync}), control events ({@link ControlRelay}), PEX and
 * artifacts; this file keeps the connection lifecycle and the wiring.
 * @module
 */
import {
  type ControlEvent,
  envelope,
  type ExperimentRecord,
  type HelloPayload,
  type NodeProfile,
  type WireMessage,
} from "../protocol/mod.ts";
import { storePaths } from "../store/mod.ts";
import type { PeerInfo } from "../node_types.ts";
import { dataPaths } from "../config.ts";
import {
  Connection,
  type ConnectionLimits,
  DEFAULT_LIMITS,
  type MessageHandler,
  type MessageHandlers,
} from "./connection.ts";
import { NetEvents } from "./peer_events.ts";
import { RecordPipeline } from "./record_pipeline.ts";
import type { PeerBook } from "./peer_book.ts";
import { Outbound } from "./outbound.ts";
import { pexResponse } from "./pex.ts";
import { SyncState } from "./sync_state.ts";
import { ArtifactFetcher } from "./artifacts.ts";
import { ProfilePush } from "./profile_push.ts";
import { LegacySync } from "./legacy_sync.ts";
import { ControlRelay } from "./control_relay.ts";
import { seqs, SyncSessions } from "./sync_sessions.ts";
import { acceptLoop, type DialFailure } from "./transport.ts";
import { componentLogger, nullLogger } from "../ops/log.ts";
import { ReceiveBudget } from "./receive_budget.ts";
import { makeRoomFor } from "./slots.ts";
import { errorText } from "../errors.ts";
import { Relay } from "./relay.ts";
import { AnnounceGossip } from "./announce.ts";
import {
  DEFAULT_MAX_PENDING,
  DEFAULT_TARGET_OUTBOUND,
  DEFAULT_TIMING,
  FEATURE_ANNOUNCE,
  type NetObserver,
  type NetTiming,
  type NetworkOptions,
  type NetworkStats,
} from "./options.ts";

/** A running gossip network. */
export class Network {
  readonly #o: NetworkOptions;
  readonly #t: NetTiming;
  readonly #limits: ConnectionLimits;
  readonly #conns = new Map<number, Connection>();
  readonly #outbound: Outbound;
  readonly #records: RecordPipeline<Connection>;
  readonly #fetcher: ArtifactFetcher<Connection>;
  readonly #sync: SyncState;
  readonly #sessions: SyncSessions<Connection>;
  readonly #legacy: LegacySync;
  readonly #control: ControlRelay<Connection>;
  readonly #relay: Relay<Connection>;
  readonly #announce: AnnounceGossip<Connection>;
  readonly #profilePush: ProfilePush;
  readonly #events: NetEvents;
  readonly #budget: ReceiveBudget<Connection>;
  readonly #tasks = new Set<Promise<unknown>>();
  #listener: Deno.TcpListener | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastPex = 0;
  #lastMark = 0;
  #closed = false;
  #observer: NetObserver = {};
  #port = 0;

  private constructor(o: NetworkOptions, sync: SyncState) {
    this.#o = o;
    this.#t = { ...DEFAULT_TIMING, ...o.timing };
    this.#limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.#sync = sync;
    const log = o.log ?? nullLogger;
    this.#events = new NetEvents(o.onEvent, componentLogger(log, "net"));
    this.#outbound = new Outbound({
      ...o,
      targetOutbound: o.targetOutbound ?? DEFAULT_TARGET_OUTBOUND,
      backoff: this.#t.backoff,
      dialTimeoutMs: this.#t.dialTimeoutMs,
      log: componentLogger(log, "net:dial"),
    });
    this.#records = new RecordPipeline<Connection>({
      graph: o.stores.graph,
      graphPath: storePaths(o.dataDir).graph,
      verifyWorkers: o.verifyWorkers,
      storeInWorker: o.storeInWorker,
      maxPending: o.maxPendingRecords ?? DEFAULT_MAX_PENDING,
      maxPendingBytes: o.maxPendingBytes,
      onStored: (batch) => this.#relay.records(batch),
      // A peer feeding records we lack is protected from eviction (slots.ts) from its first one.
      onNew: (source) => source && (source.lastNewRecordAt = Date.now()),
      onInvalid: (reason) => this.#observer.dropped?.("invalid_record", reason),
      onStoreFailed: (e) => this.#observer.dropped?.("store_failed", errorText(e)),
    });
    this.#fetcher = new ArtifactFetcher<Connection>({
      store: o.stores.artifacts,
      peers: () => this.#readyConnections(),
      deadlineMs: this.#t.artifactDeadlineMs,
      perPeerMs: this.#t.artifactPerPeerMs,
    });
    const afterPending = (fn: (durable: boolean) => void) => this.#records.ingest.afterPending(fn);
    this.#sessions = new SyncSessions<Connection>({
      stores: o.stores,
      state: sync,
      afterPending,
      track: (p) => this.#track(p, "sync stream"),
      connection: (id) => this.#conns.get(id),
    });
    this.#legacy = new LegacySync({ state: sync, afterPending });
    this.#control = new ControlRelay<Connection>({
      log: o.stores.control,
      acceptUnsigned: o.acceptUnsigned === true,
      handler: o.control,
      targets: () => this.#readyConnections(),
      isLegacy: (c) => this.#legacy.has(c.id),
      describe: (c) => c.info,
      onAccepted: (event) => this.#events.emit({ kind: "control", event }),
      onHandlerFailed: (e) => this.#events.taskFailed("control handler", e),
    });
    this.#announce = new AnnounceGossip<Connection>({
      now: Date.now,
      has: (id) => this.#records.ingest.knows(id),
      busy: () => this.#records.saturated,
      limits: o.inventory,
      lingerMs: this.#t.announceLingerMs,
      serve: (c, ids) => this.#relay.serve(c, ids),
    });
    this.#profilePush = new ProfilePush(o.nodeId, o.stores.profiles);
    this.#relay = new Relay<Connection>({
      profiles: o.stores.profiles,
      records: o.stores.graph,
      pulls: (c) => this.#announce.inventory.hasPeer(c),
      announce: (ids, source) => this.#announce.stored(ids, source),
      targets: () => this.#readyConnections(),
      emit: (e) => {
        if (e.kind === "profile") this.#profilePush.relayed(e.profile);
        this.#events.emit(e);
      },
      prefetch: (cid, source, ts) => this.#fetcher.prefetch(cid, source, ts),
      sentFrame: (type) => this.#observer.messageOut?.(type),
    });
    this.#budget = new ReceiveBudget<Connection>(o.receiveBudgetBytes);
  }

  /** Start listening (unless disabled) and dialing. */
  static async start(o: NetworkOptions): Promise<Network> {
    const sync = await SyncState.load(dataPaths(o.dataDir).netState, seqs(o.stores));
    const net = new Network(o, sync);
    try {
      if (o.listen !== false) {
        net.#listener = Deno.listen({ hostname: o.host, port: o.port, transport: "tcp" });
        net.#port = (net.#listener.addr as Deno.NetAddr).port;
        net.#track(
          acceptLoop(net.#listener, {
            closed: () => net.#closed,
            admit: (host) => makeRoomFor(host, net.connections(), net.#o),
            adopt: (c) => net.#adopt(c, true),
          }),
          "accept loop",
        );
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
    return this.connections().map((c) => c.info);
  }

  /** Every address known to the dialer, with its source. */
  addresses(): ReturnType<PeerBook["list"]> {
    return this.#outbound.book.list();
  }

  /** Why dials fail: the last failure of each address whose latest dial failed, oldest first. */
  dialFailures(): DialFailure[] {
    return this.#outbound.dialer.failures();
  }

  /** Counters since start. */
  stats(): NetworkStats {
    return {
      peers: this.connections().length,
      ...this.#records.ingest.stats,
      announce: this.#announce.stats,
    };
  }

  /** Report traffic to `observer` from now on (metrics, log); replaces any earlier one. */
  observe(observer: NetObserver): void {
    this.#observer = observer;
  }

  /** Records received and not yet stored or dropped (a queue depth). */
  get pendingRecords(): number {
    return this.#records.ingest.pending;
  }

  /** Dial `address` now (it joins the configured peers for this run). */
  connect(address: string): void {
    this.#outbound.book.add(address, "configured");
    this.#tick();
  }

  /** Resolve once every record received so far is stored or dropped. */
  flush(): Promise<void> {
    return this.#records.ingest.flush();
  }

  /**
   * Store and gossip a record this node created. Throws when it does not validate.
   * Returns false when it was already stored.
   */
  async publish(record: ExperimentRecord): Promise<boolean> {
    const v = await this.#records.validate(record);
    if (!v.ok) throw new Error(`refusing to publish an invalid record: ${v.reason}`);
    if (!this.#o.stores.graph.insert(v.value)) return false;
    this.#relay.records([{ record: v.value, source: null }]);
    return true;
  }

  /** Store and gossip a profile (ours or anyone's); false when not newer than the stored one. */
  async publishProfile(profile: NodeProfile): Promise<boolean> {
    return await this.#relay.profile(profile, null);
  }

  /** Log and gossip a control event created here; false when already logged. */
  broadcastControl(event: ControlEvent): Promise<boolean> {
    return this.#control.accept(event, null, false);
  }

  /** Fetch an artifact locally or from peers (preferring `preferNodeId`'s connection). */
  fetchArtifact(cid: string, preferNodeId?: string): Promise<Uint8Array | undefined> {
    const preferred = this.connections().find((c) =>
      !!preferNodeId && c.hello?.node_id === preferNodeId
    );
    return this.#fetcher.fetch(cid, preferred);
  }

  /** Stop: no new connections, close every peer, store everything received, save state. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#announce.close();
    this.#outbound.dialer.abortAll();
    this.#listener?.close(); // only ever closed here
    for (const c of this.#conns.values()) c.close("node shutting down");
    this.#fetcher.close();
    await Promise.allSettled([...this.#tasks]);
    await this.#records.close();
    await this.#outbound.saveKnown()?.catch((e) => this.#events.taskFailed("save known peers", e));
    this.#sync.noteHighWater(seqs(this.#o.stores));
    await this.#sync.close();
  }

  // ---- connections ------------------------------------------------------------------------

  #track<T>(p: Promise<T>, task: string): void {
    const t = p.catch((e) => this.#events.taskFailed(task, e)).finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  async #dial(address: string): Promise<void> {
    const conn = await this.#outbound.dial(address, (e) => {
      if (!this.#closed) this.#events.dialFailed(address, e);
    });
    if (!conn) return;
    if (this.#closed || this.connections().length >= this.#o.maxPeers) {
      conn.close();
      return this.#outbound.book.failed(address, Date.now());
    }
    this.#outbound.book.connected(address);
    this.#adopt(conn, false, address);
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
        onClose: (c, reason) => this.#onClose(c, reason),
        onBuffered: (c, bytes) => this.#budget.update(c, bytes),
        // Every text message out of a connection (ours, sync streams, artifacts) passes here.
        onSent: (_c, type) => this.#observer.messageOut?.(type),
      },
    });
    this.#conns.set(conn.id, conn);
    const features = this.#o.gossip !== "flood" ? [FEATURE_ANNOUNCE] : [];
    conn.send(envelope("hello", this.#sessions.hello(this.#o, this.#port, features)));
    this.#track(conn.start(), "connection");
  }

  #onClose(c: Connection, reason: string): void {
    this.#conns.delete(c.id);
    this.#sessions.closed(c);
    this.#fetcher.peerGone(c);
    this.#announce.peerGone(c);
    const legacy = this.#legacy.closed(c);
    if (c.dialedAddress && !this.#closed) {
      this.#outbound.book.disconnected(c.dialedAddress, Date.now());
    }
    this.#events.closed(c, reason, c.hello !== undefined || legacy);
  }

  /** True once `c` finished its handshake (hello, or known to be a Python peer). */
  #isReady = (c: Connection): boolean => c.hello !== undefined || this.#legacy.has(c.id);

  #readyConnections(): Connection[] {
    return this.connections().filter(this.#isReady);
  }

  // ---- housekeeping -----------------------------------------------------------------------

  #tick(): void {
    if (this.#closed) return;
    const now = Date.now();
    for (const c of this.connections()) {
      c.tick(now);
      // No hello within the wait: a Python peer.
      if (!c.closed && !this.#isReady(c) && now - c.connectedAt > this.#t.helloWaitMs) {
        this.#startLegacy(c);
      }
    }
    for (const address of this.#outbound.due(now, this.connections(), this.#o.maxPeers)) {
      this.#track(this.#dial(address), "dial");
    }
    this.#announce.expire();
    // Profiles another process stored (`spore profile set`) go out before any mark covers them.
    const profilesSent = this.#profilePush.sendForeign(this.#readyConnections());
    if (profilesSent && now - this.#lastMark > this.#t.markIntervalMs) {
      this.#lastMark = now;
      // Marks go behind every announcement of what they cover.
      this.#announce.flush();
      this.#sessions.sendLiveMarks();
    }
    if (now - this.#lastPex > this.#t.pexIntervalMs) {
      this.#lastPex = now;
      for (const c of this.#readyConnections()) c.send(envelope("pex_request", {}));
    }
    const saving = this.#outbound.saveKnown();
    if (saving) this.#track(saving, "save known peers");
    this.#sync.noteHighWater(seqs(this.#o.stores));
  }

  // ---- messages ---------------------------------------------------------------------------

  readonly #handlers: MessageHandlers<Connection> = {
    hello: (c, m) => this.#onHello(c, m.payload),
    experiment: (c, m) => this.#onRecord(c, m.payload),
    sync_request: (c, m) => this.#sessions.answerSince(c, m.payload.since),
    sync_seq: (c, m) => this.#sessions.answerSeq(c, m.payload),
    sync_mark: (c, m) => this.#announce.mark(c, () => this.#sessions.onMark(c, m.payload)),
    announce: (c, m) => this.#announce.announced(c, m.payload.ids),
    get_records: (c, m) => this.#announce.requested(c, m.payload.ids),
    pex_request: (c) => void c.send(pexResponse(this.connections(), c)),
    pex_response: (_c, m) =>
      m.payload.peer.forEach((a) => this.#outbound.book.add(a, "discovered")),
    code_request: (c, m) => this.#track(this.#fetcher.serve(c, m.payload.code_cid), "serve code"),
    code_response: (c, m) => this.#fetcher.onResponse(c, m.payload.code_cid, m.payload.code),
    profile: (c, m) => this.#relay.profile(m.payload, c).then(() => undefined),
    challenge: (c, m) => this.#control.receive(m, c),
    challenge_response: (c, m) => this.#control.receive(m, c),
    verification: (c, m) => this.#control.receive(m, c),
    dispute: (c, m) => this.#control.receive(m, c),
    // pong and unknown types: nothing to do
  };

  #onMessage(c: Connection, m: WireMessage): void | Promise<void> {
    this.#observer.messageIn?.(m.type);
    // Our nodes always say hello first: anything else first means a Python peer.
    if (m.type !== "hello" && !this.#isReady(c)) this.#startLegacy(c);
    const handler = this.#handlers[m.type] as MessageHandler<Connection, typeof m.type> | undefined;
    return handler?.(c, m);
  }

  #onHello(c: Connection, hello: HelloPayload): void {
    if (c.hello !== undefined) return; // only the first counts
    if (!this.#outbound.identify(c, hello, this.#o.nodeId, this.connections())) return;
    c.hello = hello;
    // Before sync starts: what the sync stream brings is then not announced back to it.
    if (this.#o.gossip !== "flood" && hello.features.includes(FEATURE_ANNOUNCE)) {
      this.#announce.inventory.addPeer(c);
    }
    // Late (a node slow to start on a loaded machine): one of ours after all, not a Python peer.
    if (!this.#legacy.closed(c)) {
      this.#events.up(c);
      this.#fetcher.peerReady(c);
      this.#profilePush.ready(c);
    }
    this.#sessions.begin(c, hello);
    c.send(envelope("pex_request", {}));
  }

  /** A peer without `hello`: Python-compatible sync from our per-address watermark. */
  #startLegacy(c: Connection): void {
    this.#legacy.start(c);
    this.#events.up(c);
    this.#fetcher.peerReady(c);
    this.#profilePush.ready(c);
  }

  #onRecord(c: Connection, raw: unknown): void | Promise<void> {
    c.recordsReceived++;
    const id = (raw as { id?: unknown }).id;
    if (typeof id === "string") this.#announce.inventory.bodyArrived(c, id);
    this.#legacy.received(c, raw);
    return this.#records.submit(raw, c);
  }
}
