/**
 * A running Spore node: stores, identity and the gossip network wired together behind the
 * {@link NodeHandle} surface the explorer, CLI and research loop use.
 * @module
 */
import type { ControlEvent, ExperimentRecord, KeyPair, NodeProfile } from "./protocol/mod.ts";
import { openStores, type Stores } from "./store/mod.ts";
import type {
  ControlHandler,
  NodeEvent,
  NodeEventSource,
  NodeHandle,
  PeerInfo,
} from "./node_types.ts";
import { Network, type NetworkOptions, type NetworkStats } from "./net/mod.ts";
import { type NetworkStatus, networkStatus } from "./net/alone.ts";
import { atomicWrite, dataPaths } from "./config.ts";
import { storeThreadsWanted } from "./net/threads.ts";
import { LiveRuns } from "./research/live_run.ts";
import { isProgrammerError, safetyCatch } from "./errors.ts";

/** Fan-out of node events to any number of listeners. */
export class NodeEvents implements NodeEventSource {
  readonly #listeners = new Set<(e: NodeEvent) => void>();

  /** Subscribe; returns the unsubscribe function. */
  on(listener: (e: NodeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Deliver an event to every listener. A throwing listener does not stop the others; a bug in
   * one (a programmer error) is rethrown once every listener ran, so it is never lost.
   */
  emit(e: NodeEvent): void {
    let bug: unknown;
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        if (isProgrammerError(err)) bug ??= err;
      }
    }
    if (bug !== undefined) throw bug;
  }
}

/**
 * Control events the network hands on, fanned out to the handlers added with
 * {@link SporeNode.onControl}. Handlers join after the node started (the verifier needs the
 * running node to fetch code and broadcast); an event that arrives before any joined is already
 * in the control log, which a handler replays when it starts.
 */
class ControlHandlers implements ControlHandler {
  readonly #handlers = new Set<ControlHandler>();

  add(handler: ControlHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  async onControl(event: ControlEvent, from: PeerInfo | null): Promise<void> {
    await Promise.all([...this.#handlers].map((h) => h.onControl(event, from)));
  }
}

/**
 * What a node needs to start: the network's options it passes on (documented on
 * {@link NetworkOptions}), and its own.
 */
export interface NodeOptions extends
  Pick<
    NetworkOptions,
    | "dataDir"
    | "host"
    | "port"
    | "peers"
    | "bootstrap"
    | "knownPeers"
    | "maxPeers"
    | "targetOutbound"
    | "acceptUnsigned"
    | "timing"
    | "limits"
    | "verifyWorkers"
    | "log"
    | "gossip"
    | "inventory"
  > {
  keys: KeyPair;
  /** Start alone: dial nobody (bootstrap and known peers are ignored); still accept peers. */
  genesis?: boolean;
  /** Stores already opened by the caller (closed by {@link SporeNode.close} all the same). */
  stores?: Stores;
  /** Write `<data>/peers.json` for `spore peer` (default true). */
  publishPeers?: boolean;
}

/** A running node. */
export class SporeNode implements NodeHandle {
  readonly nodeId: string;
  readonly stores: Stores;
  readonly events: NodeEvents;
  readonly network: Network;
  readonly #control: ControlHandlers;
  /** What the research loop is training now (the explorer's live run card). */
  readonly runs: LiveRuns;
  readonly #dataDir: string;
  readonly #publishPeers: boolean;
  #peersDirty = true;
  #explorer: string | undefined;
  #peersTimer: ReturnType<typeof setInterval> | undefined;
  #peersWrite: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  /** Newly stored records per publisher, added to the reputation ledger in batches. */
  #publishes = new Map<string, number>();
  #publishTimer: ReturnType<typeof setInterval> | undefined;

  private constructor(
    opts: NodeOptions,
    stores: Stores,
    events: NodeEvents,
    control: ControlHandlers,
    network: Network,
  ) {
    this.nodeId = opts.keys.nodeId;
    this.stores = stores;
    this.events = events;
    this.#control = control;
    this.network = network;
    this.runs = new LiveRuns(stores.runs);
    this.#dataDir = opts.dataDir;
    this.#publishPeers = opts.publishPeers ?? true;
  }

  /** Open the stores and start the network. */
  static async start(opts: NodeOptions): Promise<SporeNode> {
    const stores = opts.stores ??
      openStores(opts.dataDir, { backgroundCheckpoint: storeThreadsWanted() });
    const events = new NodeEvents();
    const control = new ControlHandlers();
    let network: Network;
    try {
      network = await Network.start({
        nodeId: opts.keys.nodeId,
        stores,
        dataDir: opts.dataDir,
        host: opts.host,
        port: opts.port,
        peers: opts.genesis ? [] : opts.peers,
        bootstrap: opts.genesis ? [] : opts.bootstrap,
        knownPeers: opts.genesis ? [] : opts.knownPeers,
        maxPeers: opts.maxPeers,
        targetOutbound: opts.targetOutbound,
        gossip: opts.gossip,
        inventory: opts.inventory,
        control,
        acceptUnsigned: opts.acceptUnsigned,
        timing: opts.timing,
        limits: opts.limits,
        verifyWorkers: opts.verifyWorkers,
        onEvent: (e) => events.emit(e),
        log: opts.log,
      });
    } catch (e) {
      stores.close();
      throw e;
    }
    const node = new SporeNode(opts, stores, events, control, network);
    // "Publishing only increments experiments_published" (PROTOCOL.md section 7): counted once
    // per record, batched because sync stores thousands of records a second.
    events.on((e) => {
      // Emitted once per newly stored record (the ingest pipeline dedupes before storing), so
      // each record counts once.
      if (e.kind === "experiment") {
        node.#publishes.set(e.record.node_id, (node.#publishes.get(e.record.node_id) ?? 0) + 1);
      }
    });
    node.#publishTimer = setInterval(() => node.#flushPublishes(), 1000);
    if (node.#publishPeers) {
      events.on((e) => {
        if (e.kind === "peer") node.#peersDirty = true;
      });
      node.#peersTimer = setInterval(() => node.#queuePeersWrite(), 2000);
      await node.#queuePeersWrite();
    }
    return node;
  }

  /** The gossip listening port (0 when not listening). */
  get port(): number {
    return this.network.port;
  }

  /** Live-connected peers. */
  peers(): PeerInfo[] {
    return this.network.peers();
  }

  /** Connected count, addresses being dialed, last dial error per address. */
  networkStatus(): NetworkStatus {
    return networkStatus(this.network);
  }

  /**
   * Hand every new control event from now on to `handler` (events from before are in the control
   * log). Returns the function that removes it.
   */
  onControl(handler: ControlHandler): () => void {
    return this.#control.add(handler);
  }

  /** Network counters. */
  stats(): NetworkStats {
    return this.network.stats();
  }

  /** Fetch a code artifact from the local store, else from peers (hash-checked). */
  fetchArtifact(cid: string): Promise<Uint8Array | undefined> {
    return this.network.fetchArtifact(cid);
  }

  /** Store and gossip a record this node created (already signed), with its code file. */
  async publish(record: ExperimentRecord, code?: Uint8Array): Promise<void> {
    if (code) {
      const cid = await this.stores.artifacts.put(code);
      if (cid !== record.code_cid) {
        throw new Error(`code does not match the record's code_cid (${cid} != ${record.code_cid})`);
      }
    }
    await this.network.publish(record);
  }

  /** Store and gossip a signed profile. */
  publishProfile(profile: NodeProfile): Promise<boolean> {
    return this.network.publishProfile(profile);
  }

  /** Log and gossip a control event created by this node. */
  broadcastControl(event: ControlEvent): Promise<boolean> {
    return this.network.broadcastControl(event);
  }

  /** Stop the network, make every received record durable, close the stores. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#peersTimer !== undefined) clearInterval(this.#peersTimer);
      clearInterval(this.#publishTimer);
      await this.network.close();
      this.#flushPublishes();
      await this.#peersWrite;
      if (this.#publishPeers) {
        await Deno.remove(dataPaths(this.#dataDir).peers).catch(safetyCatch);
      }
      this.stores.close();
    })();
    return this.#closing;
  }

  #flushPublishes(): void {
    if (this.#publishes.size === 0) return;
    const batch = this.#publishes;
    this.#publishes = new Map();
    try {
      this.stores.reputation.addPublished(batch);
    } catch (e) {
      safetyCatch(e); // a counter must not stop the node; the records themselves are stored
    }
  }

  /** Where this node's explorer is ("off ..." when it has none), for the peers file. */
  setExplorer(where: string): void {
    this.#explorer = where;
    this.#peersDirty = true;
    if (this.#publishPeers) void this.#queuePeersWrite();
  }

  #queuePeersWrite(): Promise<void> {
    // Chained so a slow write never overlaps the next one or the removal at close.
    this.#peersWrite = this.#peersWrite.then(() => this.#writePeers());
    return this.#peersWrite;
  }

  async #writePeers(): Promise<void> {
    if (!this.#peersDirty) return;
    this.#peersDirty = false;
    const peers = this.peers().map((p) => ({
      address: p.address,
      node_id: p.nodeId,
      agent: p.agent,
      inbound: p.inbound,
    }));
    try {
      await Deno.mkdir(this.#dataDir, { recursive: true });
      await atomicWrite(
        dataPaths(this.#dataDir).peers,
        JSON.stringify({
          pid: Deno.pid,
          port: this.port,
          explorer: this.#explorer,
          peers,
          network: this.networkStatus(),
        }),
      );
    } catch (e) {
      safetyCatch(e); // only a status hint for `spore peer`
    }
  }
}
