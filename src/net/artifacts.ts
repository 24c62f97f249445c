/**
 * Code artifacts over the wire (`code_request` / `code_response`): serving our files, and fetching
 * missing ones.
 *
 * Python peers answer `code_request` only when they hold the file and stay silent otherwise
 * (PROTOCOL.md section 11), so a miss costs a full per-peer wait. A synced graph has thousands of
 * records whose code nobody connected holds, so:
 * - one shared in-flight fetch per cid, many cids in flight at once (a response is matched by its
 *   `code_cid`; there is no request id), every answer checked against its hash;
 * - background prefetch takes the newest records first, so a history of old, unavailable code
 *   never starves the records people look at now, and asks only the peer that sent the record
 *   (the Python node does the same): walking every peer for each record's code, 10 s of silence
 *   each, sent about 2,000 x 9 `code_request`s into every node of a 10-node mesh for code no
 *   one held, which cost as much CPU as the records themselves (scripts/bench/mesh.ts);
 * - a bounded cache of cids no peer had: retried later with backoff on every peer, and at once
 *   (on that peer only, the most recent misses) when a new peer becomes ready;
 * - an explicit fetch waits for peers to appear until its deadline instead of giving up when the
 *   current ones are exhausted.
 * @module
 */
import { Buffer } from "node:buffer";
import { envelope, sha256Hex } from "../protocol/mod.ts";
import { type ArtifactStore, isCid } from "../store/mod.ts";
import { backoffDelay, type BackoffPolicy } from "./backoff.ts";
import { NewestFirstQueue } from "./newest_first.ts";
import { safetyCatch } from "../errors.ts";

/** What the fetcher needs from a connection. */
export interface ArtifactPeer {
  readonly id: number;
  readonly closed: boolean;
  send(json: string): boolean;
}

/** Options of {@link ArtifactFetcher}. */
export interface ArtifactFetcherOptions<P extends ArtifactPeer> {
  store: ArtifactStore;
  /** Connected peers, in preference order. */
  peers: () => P[];
  /** Overall deadline of one fetch (default 60 s). */
  deadlineMs?: number;
  /** How long to wait for one peer's answer (default 10 s). */
  perPeerMs?: number;
  /** Background prefetches queued at most ({@link DEFAULT_PREFETCH_QUEUE}). */
  prefetchQueue?: number;
  /** Background prefetches running at once ({@link DEFAULT_PREFETCH_ACTIVE}). */
  prefetchActive?: number;
  /** Cids no peer had, remembered at most ({@link DEFAULT_MISS_CACHE}). */
  missCache?: number;
  /** When to retry a cid no peer had ({@link DEFAULT_MISS_RETRY}). */
  missRetry?: BackoffPolicy;
}

/**
 * Queued prefetches at most: one per record of a 20,000-record sync (about 150 bytes each);
 * beyond it the oldest records' code is dropped, and fetched on demand when someone asks.
 */
export const DEFAULT_PREFETCH_QUEUE = 20_000;
/**
 * Prefetches in flight at once. A miss holds its slot for the whole per-peer wait (10 s), so
 * throughput on a graph with missing code is about this many misses per 10 s; each slot is one
 * timer and a few small objects. scripts/bench/artifacts.ts (10,000 records from a Python-like
 * peer holding half the code; shared 2-core machine): 2 at a time (the old value) stored 24 of
 * the 5,000 available files in 120 s; 512 stored 4,317 in 150 s; 2,048 all in 37 s; 4,096 all in
 * 31 s, no longer limited by misses (the sync itself took 28 s of it).
 */
export const DEFAULT_PREFETCH_ACTIVE = 2048;
/** Cids no peer had, remembered (about 200 bytes each). */
export const DEFAULT_MISS_CACHE = 20_000;
/**
 * Missing cids a newly ready peer is asked for at once (the most recently missed); older ones
 * wait for their backoff retry. Without a bound every new connection began with up to
 * {@link DEFAULT_MISS_CACHE} requests.
 */
export const PEER_READY_ASKS = 512;
/** Retry a missing cid after about 1 minute, doubling up to an hour. */
export const DEFAULT_MISS_RETRY: BackoffPolicy = { baseMs: 60_000, maxMs: 3_600_000 };
/** How often due retries are queued. */
const RETRY_CHECK_MS = 1000;

interface Waiter {
  peerId: number;
  resolve: (bytes: Uint8Array | undefined) => void;
}

interface Job<P> {
  cid: string;
  /** Record timestamp: newest first. */
  ts: number;
  from?: P | undefined;
  /** Ask only this peer (the record's sender, or a peer that just connected). */
  only?: P;
  /** A first try (not a retry): a miss starts the cid's retry schedule. */
  first?: boolean;
}

interface Miss {
  ts: number;
  attempts: number;
  retryAt: number;
}

interface Inflight {
  promise: Promise<Uint8Array | undefined>;
  /** True when this fetch waits for new peers until its deadline. */
  waits: boolean;
}

/** Counters for status displays and tests. */
export interface ArtifactStats {
  queued: number;
  active: number;
  missing: number;
}

/** Fetches and serves content-addressed code files. */
export class ArtifactFetcher<P extends ArtifactPeer> {
  readonly #opts: ArtifactFetcherOptions<P>;
  readonly #inflight = new Map<string, Inflight>();
  readonly #waiters = new Map<string, Waiter>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #queue: NewestFirstQueue<Job<P>>;
  readonly #queued = new Map<string, Job<P>>();
  /** Cids no peer had, oldest first (insertion order). */
  readonly #misses = new Map<string, Miss>();
  readonly #peerWaits = new Set<() => void>();
  #active = 0;
  #nextRetry = Infinity;
  #retryTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(opts: ArtifactFetcherOptions<P>) {
    this.#opts = opts;
    this.#queue = new NewestFirstQueue(opts.prefetchQueue ?? DEFAULT_PREFETCH_QUEUE);
  }

  /**
   * The bytes of `cid`: from the local store, else from peers (`preferred` first), waiting for
   * new peers while none of the current ones has it, until the deadline. Concurrent callers share
   * one fetch. Undefined when no peer delivered matching bytes before the deadline.
   */
  fetch(cid: string, preferred?: P): Promise<Uint8Array | undefined> {
    if (!isCid(cid) || this.#closed) return Promise.resolve(undefined);
    const existing = this.#inflight.get(cid);
    if (existing?.waits) return existing.promise;
    // A background prefetch gives up when the current peers are exhausted; then wait our own way.
    if (existing) {
      return existing.promise.then((b) => b ?? this.#start({ cid, ts: 0, from: preferred }, true));
    }
    return this.#start({ cid, ts: 0, from: preferred }, true);
  }

  /**
   * Queue a background fetch of `cid` from `from`, the peer that sent its record; `timestamp` is
   * the record's: the newest are fetched first. A miss is retried later on every peer; cids no
   * peer had wait for their retry.
   */
  prefetch(cid: string, from: P, timestamp = 0): void {
    if (this.#closed || !isCid(cid) || this.#misses.has(cid)) return;
    this.#enqueue({ cid, ts: timestamp, only: from, first: true });
  }

  /**
   * A peer finished its handshake: wake waiting fetches and ask it for the most recently missed
   * cids ({@link PEER_READY_ASKS}).
   */
  peerReady(peer: P): void {
    if (this.#closed) return;
    this.#wakeWaiting();
    let skip = this.#misses.size - PEER_READY_ASKS;
    for (const [cid, m] of this.#misses) {
      if (skip-- > 0) continue; // oldest first in the map: the recent ones are at the end
      this.#enqueue({ cid, ts: m.ts, only: peer });
    }
  }

  /** A peer went away: its unanswered requests fail now instead of at their timeout. */
  peerGone(peer: P): void {
    for (const [cid, w] of [...this.#waiters]) {
      if (w.peerId === peer.id) {
        this.#waiters.delete(cid);
        w.resolve(undefined);
      }
    }
  }

  /** Queue, in-flight and miss-cache sizes. */
  stats(): ArtifactStats {
    return { queued: this.#queued.size, active: this.#active, missing: this.#misses.size };
  }

  /**
   * Handle a `code_response`: accepted only for a cid being fetched or known missing (an answer
   * after its wait ended is still the file we want), and only if it hashes right.
   */
  onResponse(peer: P, cid: string, codeBase64: string): void {
    const w = this.#waiters.get(cid);
    const late = !w && (this.#misses.has(cid) || this.#inflight.has(cid));
    if (!w && !late) return; // unsolicited: never written to disk
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(Buffer.from(codeBase64, "base64"));
    } catch {
      bytes = new Uint8Array(0);
    }
    if (late) {
      // An answer that came after its wait ended: still the file we want, if it hashes right.
      if (sha256Hex(bytes) !== cid) return;
      this.#misses.delete(cid);
      this.#opts.store.putVerified(cid, bytes)
        .then(() => this.#wakeWaiting())
        .catch(() => this.#noteMiss(cid, 0));
      return;
    }
    if (!w) return;
    if (sha256Hex(bytes) === cid) {
      this.#waiters.delete(cid);
      w.resolve(bytes);
    } else if (w.peerId === peer.id) {
      this.#waiters.delete(cid);
      w.resolve(undefined); // the asked peer lied: move on to the next
    }
  }

  /** Answer a `code_request` when we hold the file (Python peers also stay silent otherwise). */
  async serve(peer: P, cid: string): Promise<void> {
    if (!isCid(cid)) return;
    const bytes = await this.#opts.store.get(cid);
    if (!bytes || peer.closed) return;
    peer.send(envelope("code_response", {
      code_cid: cid,
      code: Buffer.from(bytes).toString("base64"),
    }));
  }

  /** Abandon every fetch (they resolve undefined) and stop prefetching. */
  close(): void {
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearInterval(this.#retryTimer);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const w of this.#waiters.values()) w.resolve(undefined);
    this.#waiters.clear();
    this.#wakeWaiting();
    this.#queue.clear();
    this.#queued.clear();
  }

  #start(job: Job<P>, waits: boolean): Promise<Uint8Array | undefined> {
    const entry: Inflight = { promise: Promise.resolve(undefined), waits };
    entry.promise = this.#run(job, waits).then((bytes) => {
      if (bytes) this.#misses.delete(job.cid);
      else if (!this.#closed && (!job.only || job.first)) this.#noteMiss(job.cid, job.ts);
      return bytes;
    }).finally(() => {
      if (this.#inflight.get(job.cid) === entry) this.#inflight.delete(job.cid);
    });
    this.#inflight.set(job.cid, entry);
    return entry.promise;
  }

  async #run(job: Job<P>, waits: boolean): Promise<Uint8Array | undefined> {
    const { cid, from, only } = job;
    const local = await this.#opts.store.get(cid);
    if (local) return local;
    const deadline = Date.now() + (this.#opts.deadlineMs ?? 60_000);
    const tried = new Set<number>();
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      const candidates = only ? [only] : [...(from ? [from] : []), ...this.#opts.peers()];
      const peer = candidates.find((p) => !p.closed && !tried.has(p.id));
      if (!peer) {
        if (!waits || only) return undefined;
        await this.#peerAppears(left);
        const late = await this.#opts.store.get(cid); // a late answer may have arrived meanwhile
        if (late) return late;
        continue;
      }
      tried.add(peer.id);
      const bytes = await this.#ask(peer, cid, Math.min(left, this.#opts.perPeerMs ?? 10_000));
      if (bytes && await this.#opts.store.putVerified(cid, bytes)) return bytes;
    }
    return undefined;
  }

  /** Wake fetches waiting for a peer (one connected, or a late answer was stored). */
  #wakeWaiting(): void {
    for (const wake of [...this.#peerWaits]) wake();
  }

  #peerAppears(waitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#timers.delete(timer);
        this.#peerWaits.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, waitMs);
      this.#timers.add(timer);
      this.#peerWaits.add(wake);
    });
  }

  #ask(peer: P, cid: string, waitMs: number): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), waitMs);
      this.#timers.add(timer);
      const done = (bytes: Uint8Array | undefined) => {
        clearTimeout(timer);
        this.#timers.delete(timer);
        if (this.#waiters.get(cid)?.resolve === done) this.#waiters.delete(cid);
        resolve(bytes);
      };
      this.#waiters.set(cid, { peerId: peer.id, resolve: done });
      if (!peer.send(envelope("code_request", { code_cid: cid }))) done(undefined);
    });
  }

  /** Queue `job`; false when it was not (already queued or running, or dropped as the oldest). */
  #enqueue(job: Job<P>): boolean {
    if (this.#closed || this.#queued.has(job.cid) || this.#inflight.has(job.cid)) return false;
    this.#queued.set(job.cid, job);
    let kept = true;
    for (const dropped of this.#queue.push(job, job.ts)) {
      this.#queued.delete(dropped.cid);
      if (dropped === job) kept = false;
      else this.#postpone(dropped.cid, Date.now());
    }
    this.#drain();
    return kept;
  }

  /** A missing cid whose retry could not be queued: try again one base delay later. */
  #postpone(cid: string, now: number): void {
    const m = this.#misses.get(cid);
    if (!m || m.retryAt !== Infinity) return;
    m.retryAt = now + (this.#opts.missRetry ?? DEFAULT_MISS_RETRY).baseMs;
    this.#nextRetry = Math.min(this.#nextRetry, m.retryAt);
  }

  #drain(): void {
    const max = this.#opts.prefetchActive ?? DEFAULT_PREFETCH_ACTIVE;
    while (this.#active < max && !this.#closed) {
      const job = this.#queue.pop();
      if (!job) return;
      this.#queued.delete(job.cid);
      if (this.#inflight.has(job.cid)) continue;
      this.#active++;
      // The run looks in the local store first (and a hit clears the cid's miss).
      this.#start(job, false)
        .catch(safetyCatch)
        .finally(() => {
          this.#active--;
          this.#drain();
        });
    }
  }

  #noteMiss(cid: string, ts: number): void {
    const prev = this.#misses.get(cid);
    this.#misses.delete(cid); // re-insert at the young end
    const max = this.#opts.missCache ?? DEFAULT_MISS_CACHE;
    while (this.#misses.size >= max) this.#misses.delete(this.#misses.keys().next().value!);
    const attempts = (prev?.attempts ?? 0) + 1;
    const retryAt = Date.now() + backoffDelay(attempts, this.#opts.missRetry ?? DEFAULT_MISS_RETRY);
    this.#misses.set(cid, { ts: Math.max(ts, prev?.ts ?? 0), attempts, retryAt });
    this.#nextRetry = Math.min(this.#nextRetry, retryAt);
    this.#retryTimer ??= setInterval(() => this.#retryDue(), RETRY_CHECK_MS);
  }

  #retryDue(): void {
    const now = Date.now();
    if (this.#closed || now < this.#nextRetry) return;
    for (const [cid, m] of this.#misses) {
      if (m.retryAt > now) continue;
      // Pushed back until this attempt ends and records its own next retry.
      m.retryAt = Infinity;
      if (!this.#enqueue({ cid, ts: m.ts })) this.#postpone(cid, now);
    }
    let next = Infinity;
    for (const m of this.#misses.values()) next = Math.min(next, m.retryAt);
    this.#nextRetry = next;
  }
}
