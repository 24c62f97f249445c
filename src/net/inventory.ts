/**
 * Announce, then pull (PROTOCOL.md section 8, the `announce` feature): the pure state behind it,
 * with no I/O and an injected clock, so its timing is tested deterministically.
 *
 * Sending side: each record this node stores is queued, per peer, for an `announce` (the network
 * flushes the queues after a short linger, so a stream goes out in batches), except to peers
 * known to have it: they sent us the body, announced it, asked for it, or we announced it to them
 * already. "Known to have" is bounded per peer (least recently added forgotten first).
 *
 * Receiving side: an announced id we lack becomes "wanted", requested from one announcer at a
 * time with a deadline (moved on while bodies arrive); other announcers are remembered (a few)
 * as fallbacks. A request that times out goes to the next announcer (the late one goes to the
 * back of the line); after a few timeouts, or with no announcer left connected, the id is given
 * up (a reconnect's sync brings it). An id is never requested twice at
 * once, and each peer has a bounded number of ids in flight.
 *
 * Sync marks: a live `sync_mark` from a peer says "you are covered up to here", but what it
 * announced before the mark may not be stored yet. So a mark waits until nothing that peer
 * announced is outstanding, and a peer that failed to deliver what it announced (or announced
 * more than we could want) has its marks ignored for the rest of the connection (its cursor stays where it was: the next reconnect
 * syncs what might be missing).
 * @module
 */
import { MAX_RECORD_IDS } from "../protocol/mod.ts";
import { LruSet } from "./lru.ts";

/** Tuning of an {@link Inventory}; every field has a default. */
export interface InventoryLimits {
  /**
   * A request goes to the next announcer when it is this old and no body at all arrived from
   * its peer for this long. Bodies arrive within milliseconds on a quiet link; on a loaded
   * 2-core machine (scripts/bench/mesh.ts at 10 nodes, load average 15) a node serving 9 peers
   * 2,000 bodies each took over 10 s, so this is generous.
   */
  requestTimeoutMs: number;
  /**
   * Ids remembered per peer as "known to have": about 140 bytes each in a Set, so 2,048 is under
   * 300 KB per peer and 18 MB at 64 peers (the node's heap is capped at 128 MB). Announcements
   * of an id come within seconds of each other; forgetting one costs at worst a repeated
   * 66-byte announcement.
   */
  knownPerPeer: number;
  /** Ids wanted at once; announcements beyond it are ignored until some arrive (sync covers). */
  maxWanted: number;
  /** Fallback announcers remembered per wanted id. */
  maxAnnouncers: number;
  /**
   * Timed-out requests before an id is given up (announcers are asked in turn). 6 x 10 s: a
   * 30-node mesh on a loaded 2-core machine gave up ids after one round of timeouts, and those
   * nodes never converged (scripts/bench/mesh.ts).
   */
  maxAttempts: number;
  /**
   * Ids requested from one peer and not yet arrived; the rest wait for room there or go to
   * another announcer. The first node to announce a record is asked by everyone: with 1,000
   * (one message's worth) the first node of a 30-node mesh served 40,000 of the 58,000 bodies
   * alone and every node converged after it (19.2 s and 36.5 CPU-s, scripts/bench/mesh.ts);
   * with 128 the serving spreads to the nodes that got the records first (15.8 s, 30.3 CPU-s;
   * one run each on a 2-core machine).
   */
  maxInFlightPerPeer: number;
}

/** Defaults for the public network. */
export const DEFAULT_INVENTORY_LIMITS: InventoryLimits = {
  requestTimeoutMs: 10_000,
  knownPerPeer: 2048,
  maxWanted: 50_000,
  maxAnnouncers: 4,
  maxAttempts: 6,
  maxInFlightPerPeer: 128,
};

/** What an {@link Inventory} is given. */
export interface InventoryOptions {
  /** The clock (ms). */
  now(): number;
  /** True when a record is stored here or already on its way into the store. */
  has(id: string): boolean;
  /**
   * True while this node is the slow side (records wait for validation and reading from peers
   * is paused): bodies are not read, so no request times out meanwhile. Without it a loaded
   * node blamed its peers and asked again elsewhere (0.3 duplicate copies per record at 10
   * nodes in scripts/bench/mesh.ts).
   */
  busy?(): boolean;
  limits?: Partial<InventoryLimits> | undefined;
}

/** Ids to send one peer in one message (`announce` or `get_records`). */
export interface IdBatch<P> {
  peer: P;
  ids: string[];
}

/** Counters since start. */
export interface InventoryStats {
  /** Ids we announced, summed over peers. */
  announcedOut: number;
  /** Ids announced to us, summed over peers. */
  announcedIn: number;
  /** Ids we asked a peer for (a retry with the next announcer counts again). */
  requested: number;
  /** Requests that timed out. */
  timeouts: number;
  /** Wanted ids given up: every announcer failed or left. */
  gaveUp: number;
  /** Announced ids ignored because too many were wanted already. */
  overflow: number;
}

interface PeerState {
  known: LruSet;
  queue: string[];
  /** Ids requested from this peer, not yet stored. */
  inFlight: number;
  /** When a body last arrived from it (ms). */
  lastBody: number;
  /** Wanted ids this peer announced (counted once per id). */
  outstanding: number;
  /** It failed to deliver something it announced: its marks are ignored. */
  unreliable: boolean;
  /** The latest sync mark, waiting for `outstanding` to reach 0. */
  mark?: (() => void) | undefined;
}

interface Wanted<P> {
  announcers: P[];
  /** Requests that timed out so far. */
  attempts: number;
  /** The peer asked for it now, if any. */
  from?: P | undefined;
  deadline: number;
}

/** Announce/pull state of every feature peer. `P` identifies a peer (a connection). */
export class Inventory<P> {
  readonly stats: InventoryStats = {
    announcedOut: 0,
    announcedIn: 0,
    requested: 0,
    timeouts: 0,
    gaveUp: 0,
    overflow: 0,
  };
  readonly #peers = new Map<P, PeerState>();
  readonly #wanted = new Map<string, Wanted<P>>();
  readonly #o: InventoryOptions;
  readonly #l: InventoryLimits;
  #queued = 0;
  /** Wanted ids in flight, all peers together (the rest wait for an announcer with room). */
  #inFlight = 0;

  constructor(o: InventoryOptions) {
    this.#o = o;
    this.#l = { ...DEFAULT_INVENTORY_LIMITS, ...o.limits };
  }

  /** A peer with the feature said hello. */
  addPeer(peer: P): void {
    if (this.#peers.has(peer)) return;
    this.#peers.set(peer, {
      known: new LruSet(this.#l.knownPerPeer),
      queue: [],
      inFlight: 0,
      lastBody: 0,
      outstanding: 0,
      unreliable: false,
    });
  }

  /** True for peers added and not removed. */
  hasPeer(peer: P): boolean {
    return this.#peers.has(peer);
  }

  /** A peer left: what was asked of it goes to the next announcer. Returns those requests. */
  removePeer(peer: P): IdBatch<P>[] {
    const st = this.#peers.get(peer);
    if (!st) return [];
    this.#queued -= st.queue.length;
    this.#peers.delete(peer);
    for (const [id, w] of this.#wanted) {
      const i = w.announcers.indexOf(peer);
      if (i < 0) continue;
      w.announcers.splice(i, 1);
      if (w.from === peer) {
        w.from = undefined;
        this.#inFlight--;
      }
      if (w.announcers.length === 0) this.#drop(id, w, true);
    }
    return this.#assign();
  }

  /** Ids queued for announcing, all peers together. */
  get queued(): number {
    return this.#queued;
  }

  /** Ids wanted (announced to us, not stored yet). */
  get wanted(): number {
    return this.#wanted.size;
  }

  /**
   * Records were stored: announce them to every peer not known to have them (`source` sent the
   * body; null: created here or came from a peer without the feature), and settle what was
   * wanted. Returns requests for ids that were waiting for the room this made.
   */
  stored(ids: readonly string[], source: P | null): IdBatch<P>[] {
    const from = source === null ? undefined : this.#peers.get(source);
    for (const id of ids) {
      from?.known.add(id);
      const w = this.#wanted.get(id);
      if (w) this.#drop(id, w, false);
      for (const [peer, st] of this.#peers) {
        if (peer === source || st.known.has(id)) continue;
        st.known.add(id);
        st.queue.push(id);
        this.#queued++;
      }
    }
    return this.#wanted.size > this.#inFlight ? this.#assign() : [];
  }

  /** Everything queued, as messages of at most {@link MAX_RECORD_IDS} ids per peer. */
  takeAnnouncements(): IdBatch<P>[] {
    const out: IdBatch<P>[] = [];
    for (const [peer, st] of this.#peers) {
      if (st.queue.length === 0) continue;
      this.stats.announcedOut += st.queue.length;
      out.push(...chunks(peer, st.queue));
      st.queue = [];
    }
    this.#queued = 0;
    return out;
  }

  /** A peer announced `ids`: returns the requests to send now. */
  announced(peer: P, ids: readonly string[]): IdBatch<P>[] {
    const st = this.#peers.get(peer);
    if (!st) return [];
    this.stats.announcedIn += ids.length;
    const now = this.#o.now();
    const ask: string[] = [];
    for (const id of ids) {
      st.known.add(id);
      const w = this.#wanted.get(id);
      if (w) {
        if (w.announcers.includes(peer) || w.announcers.length >= this.#l.maxAnnouncers) continue;
        w.announcers.push(peer);
        st.outstanding++;
        // Waiting for room at its other announcers: this one has room.
        if (w.from === undefined && st.inFlight < this.#l.maxInFlightPerPeer) {
          this.#request(w, peer, st, now);
          ask.push(id);
        }
        continue;
      }
      if (this.#o.has(id)) continue;
      if (this.#wanted.size >= this.#l.maxWanted) {
        // Not asked for: its marks must not move our cursor past it.
        this.stats.overflow++;
        this.#distrust(st);
        continue;
      }
      const entry: Wanted<P> = { announcers: [peer], attempts: 0, deadline: 0 };
      this.#wanted.set(id, entry);
      st.outstanding++;
      if (st.inFlight < this.#l.maxInFlightPerPeer) {
        this.#request(entry, peer, st, now);
        ask.push(id);
      }
    }
    return chunks(peer, ask);
  }

  /** A peer asked us for `ids`: it will have them. */
  requestedBy(peer: P, ids: readonly string[]): void {
    const st = this.#peers.get(peer);
    if (st) { for (const id of ids) st.known.add(id); }
  }

  /**
   * A record body arrived from `peer` (not yet validated). A peer delivering is alive: none of
   * its requests times out while bodies keep coming (it may be working through a long list).
   */
  bodyArrived(peer: P, id: string): void {
    const st = this.#peers.get(peer);
    if (!st) return;
    st.known.add(id);
    st.lastBody = this.#o.now();
  }

  /**
   * Time passed: requests past their deadline go to the next announcer, and ids waiting for a
   * peer with room are assigned. Returns the requests to send.
   */
  expire(): IdBatch<P>[] {
    const now = this.#o.now();
    const busy = this.#o.busy?.() ?? false;
    for (const [id, w] of this.#wanted) {
      if (w.from === undefined || w.deadline > now) continue;
      const st = this.#peers.get(w.from)!;
      if (busy || now - st.lastBody < this.#l.requestTimeoutMs) {
        w.deadline = now + this.#l.requestTimeoutMs;
        continue;
      }
      const late = w.from;
      this.stats.timeouts++;
      st.inFlight--;
      this.#distrust(st);
      w.from = undefined;
      this.#inFlight--;
      // Behind the other announcers: a peer that was only slow (a loaded machine) gets another
      // turn, so the id is not lost while its announcers are still connected.
      w.announcers.splice(w.announcers.indexOf(late), 1);
      w.announcers.push(late);
      if (++w.attempts >= this.#l.maxAttempts) this.#drop(id, w, true);
    }
    return this.#assign();
  }

  /**
   * A live sync mark from `peer`: `apply` runs once nothing it announced is outstanding (now,
   * or later; a newer mark replaces a waiting one), never when it failed to deliver.
   */
  mark(peer: P, apply: () => void): void {
    const st = this.#peers.get(peer);
    if (!st) return apply(); // not an announce peer: everything came as bodies
    if (st.unreliable) return;
    if (st.outstanding === 0) return apply();
    st.mark = apply;
  }

  #distrust(st: PeerState): void {
    st.unreliable = true;
    st.mark = undefined;
  }

  #request(w: Wanted<P>, peer: P, st: PeerState, now: number): void {
    w.from = peer;
    w.deadline = now + this.#l.requestTimeoutMs;
    st.inFlight++;
    this.#inFlight++;
    this.stats.requested++;
  }

  /** Ask the first announcer with room for every wanted id not in flight. */
  #assign(): IdBatch<P>[] {
    const now = this.#o.now();
    const asks = new Map<P, string[]>();
    for (const [id, w] of this.#wanted) {
      // No store lookup here: this runs after every committed batch, and whatever gets stored
      // (by pull, sync or a push) settles its wanted entry through stored().
      if (w.from !== undefined) continue;
      for (const peer of w.announcers) {
        const st = this.#peers.get(peer)!;
        if (st.inFlight >= this.#l.maxInFlightPerPeer) continue;
        this.#request(w, peer, st, now);
        const list = asks.get(peer) ?? [];
        list.push(id);
        asks.set(peer, list);
        break;
      }
    }
    return [...asks].flatMap(([peer, ids]) => chunks(peer, ids));
  }

  /** Forget a wanted id (stored, or given up) and release what its announcers held. */
  #drop(id: string, w: Wanted<P>, gaveUp: boolean): void {
    this.#wanted.delete(id);
    if (gaveUp) this.stats.gaveUp++;
    if (w.from !== undefined) {
      this.#inFlight--;
      const st = this.#peers.get(w.from);
      if (st) st.inFlight--;
    }
    for (const peer of w.announcers) {
      const st = this.#peers.get(peer);
      if (!st) continue;
      st.outstanding--;
      if (st.outstanding === 0 && st.mark) {
        const apply = st.mark;
        st.mark = undefined;
        apply();
      }
    }
  }
}

function chunks<P>(peer: P, ids: string[]): IdBatch<P>[] {
  const out: IdBatch<P>[] = [];
  for (let i = 0; i < ids.length; i += MAX_RECORD_IDS) {
    out.push({ peer, ids: ids.slice(i, i + MAX_RECORD_IDS) });
  }
  return out;
}
