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
 * as fallbacks. A request that times out drops that announcer and goes to the next; with none
 * left the id is given up (a reconnect's sync brings it). An id is never requested twice at
 * once, and each peer has a bounded number of ids in flight.
 *
 * Sync marks: a live `sync_mark` from a peer says "you are covered up to here", but what it
 * announced before the mark may not be stored yet. So a mark waits until nothing that peer
 * announced is outstanding, and a peer that failed to deliver what it announced has its marks
 * ignored for the rest of the connection (its cursor stays where it was: the next reconnect
 * syncs what might be missing).
 * @module
 */
import { MAX_RECORD_IDS } from "../protocol/mod.ts";
import { LruSet } from "./lru.ts";

/** Tuning of an {@link Inventory}; every field has a default. */
export interface InventoryLimits {
  /**
   * A request with no body arriving for this long goes to the next announcer. Bodies arrive
   * within milliseconds on a quiet link; a loaded 2-core machine (scripts/bench/mesh.ts at 30
   * nodes) took seconds to get through a 1,000-id request, so this is generous.
   */
  requestTimeoutMs: number;
  /** Ids remembered per peer as "known to have" (8,192 x ~100 bytes: under 1 MB per peer). */
  knownPerPeer: number;
  /** Ids wanted at once; announcements beyond it are ignored until some arrive (sync covers). */
  maxWanted: number;
  /** Fallback announcers remembered per wanted id. */
  maxAnnouncers: number;
  /** Ids requested from one peer and not yet arrived. */
  maxInFlightPerPeer: number;
}

/** Defaults for the public network. */
export const DEFAULT_INVENTORY_LIMITS: InventoryLimits = {
  requestTimeoutMs: 10_000,
  knownPerPeer: 8192,
  maxWanted: 50_000,
  maxAnnouncers: 4,
  maxInFlightPerPeer: 2 * MAX_RECORD_IDS,
};

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
  /** Wanted ids this peer announced (counted once per id). */
  outstanding: number;
  /** It failed to deliver something it announced: its marks are ignored. */
  unreliable: boolean;
  /** The latest sync mark, waiting for `outstanding` to reach 0. */
  mark?: () => void;
}

interface Wanted<P> {
  announcers: P[];
  /** The peer asked for it now, if any. */
  from?: P;
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
  readonly #now: () => number;
  readonly #has: (id: string) => boolean;
  readonly #l: InventoryLimits;
  #queued = 0;

  /**
   * @param now the clock (ms)
   * @param has true when a record is stored here or already on its way into the store
   */
  constructor(now: () => number, has: (id: string) => boolean, limits?: Partial<InventoryLimits>) {
    this.#now = now;
    this.#has = has;
    this.#l = { ...DEFAULT_INVENTORY_LIMITS, ...limits };
  }

  /** A peer with the feature said hello. */
  addPeer(peer: P): void {
    if (this.#peers.has(peer)) return;
    this.#peers.set(peer, {
      known: new LruSet(this.#l.knownPerPeer),
      queue: [],
      inFlight: 0,
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
      if (w.from === peer) w.from = undefined;
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
   * wanted.
   */
  stored(ids: readonly string[], source: P | null): void {
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
    const now = this.#now();
    const ask: string[] = [];
    for (const id of ids) {
      st.known.add(id);
      const w = this.#wanted.get(id);
      if (w) {
        if (w.announcers.includes(peer) || w.announcers.length >= this.#l.maxAnnouncers) continue;
        w.announcers.push(peer);
        st.outstanding++;
        continue;
      }
      if (this.#has(id)) continue;
      if (this.#wanted.size >= this.#l.maxWanted) {
        this.stats.overflow++;
        continue;
      }
      const entry: Wanted<P> = { announcers: [peer], deadline: 0 };
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

  /** A record body arrived from `peer` (not yet validated): its request is alive. */
  bodyArrived(peer: P, id: string): void {
    this.#peers.get(peer)?.known.add(id);
    const w = this.#wanted.get(id);
    if (w && w.from === peer) w.deadline = this.#now() + this.#l.requestTimeoutMs;
  }

  /**
   * Time passed: requests past their deadline go to the next announcer, and ids waiting for a
   * peer with room are assigned. Returns the requests to send.
   */
  expire(): IdBatch<P>[] {
    const now = this.#now();
    for (const [id, w] of this.#wanted) {
      if (w.from === undefined || w.deadline > now) continue;
      const late = w.from;
      const st = this.#peers.get(late)!;
      this.stats.timeouts++;
      st.inFlight--;
      st.outstanding--;
      st.unreliable = true;
      st.mark = undefined;
      w.announcers.splice(w.announcers.indexOf(late), 1);
      w.from = undefined;
      if (w.announcers.length === 0) this.#drop(id, w, true);
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

  #request(w: Wanted<P>, peer: P, st: PeerState, now: number): void {
    w.from = peer;
    w.deadline = now + this.#l.requestTimeoutMs;
    st.inFlight++;
    this.stats.requested++;
  }

  /** Ask the first announcer with room for every wanted id not in flight. */
  #assign(): IdBatch<P>[] {
    const now = this.#now();
    const asks = new Map<P, string[]>();
    for (const [id, w] of this.#wanted) {
      if (w.from !== undefined) continue;
      if (this.#has(id)) {
        this.#drop(id, w, false);
        continue;
      }
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
