/**
 * Code artifacts over the wire (`code_request` / `code_response`): serving our files, and fetching
 * missing ones with one shared in-flight fetch per cid, the preferred peer first, then the others,
 * every answer checked against its hash (a lying peer is skipped), within an overall deadline.
 * @module
 */
import { Buffer } from "node:buffer";
import { envelope, sha256Hex } from "../protocol/mod.ts";
import { type ArtifactStore, isCid } from "../store/mod.ts";

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
  /** Background prefetches queued at most (default 256; more are dropped). */
  prefetchQueue?: number;
}

interface Waiter {
  peerId: number;
  resolve: (bytes: Uint8Array | undefined) => void;
}

/** Fetches and serves content-addressed code files. */
export class ArtifactFetcher<P extends ArtifactPeer> {
  readonly #opts: ArtifactFetcherOptions<P>;
  readonly #inflight = new Map<string, Promise<Uint8Array | undefined>>();
  readonly #waiters = new Map<string, Waiter>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #prefetch = new Map<string, P>();
  #prefetching = 0;
  #closed = false;

  constructor(opts: ArtifactFetcherOptions<P>) {
    this.#opts = opts;
  }

  /**
   * The bytes of `cid`: from the local store, else from peers (`preferred` first). Concurrent
   * callers share one fetch. Undefined when no peer delivered matching bytes before the deadline.
   */
  fetch(cid: string, preferred?: P): Promise<Uint8Array | undefined> {
    if (!isCid(cid) || this.#closed) return Promise.resolve(undefined);
    const existing = this.#inflight.get(cid);
    if (existing) return existing;
    const p = this.#run(cid, preferred).finally(() => this.#inflight.delete(cid));
    this.#inflight.set(cid, p);
    return p;
  }

  /** Queue a background fetch of `cid` from `from` (dropped when the queue is full). */
  prefetch(cid: string, from: P): void {
    if (this.#closed || !isCid(cid) || this.#prefetch.has(cid) || this.#inflight.has(cid)) return;
    if (this.#prefetch.size >= (this.#opts.prefetchQueue ?? 256)) return;
    this.#prefetch.set(cid, from);
    this.#drainPrefetch();
  }

  /** Handle a `code_response`: accepted only for a cid being fetched and only if it hashes right. */
  onResponse(peer: P, cid: string, codeBase64: string): void {
    const w = this.#waiters.get(cid);
    if (!w) return; // unsolicited: never written to disk
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(Buffer.from(codeBase64, "base64"));
    } catch {
      bytes = new Uint8Array(0);
    }
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
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const w of this.#waiters.values()) w.resolve(undefined);
    this.#waiters.clear();
    this.#prefetch.clear();
  }

  async #run(cid: string, preferred?: P): Promise<Uint8Array | undefined> {
    const local = await this.#opts.store.get(cid);
    if (local) return local;
    const deadline = Date.now() + (this.#opts.deadlineMs ?? 60_000);
    const tried = new Set<number>();
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      const candidates = [...(preferred ? [preferred] : []), ...this.#opts.peers()];
      const peer = candidates.find((p) => !p.closed && !tried.has(p.id));
      if (!peer) return undefined;
      tried.add(peer.id);
      const bytes = await this.#ask(peer, cid, Math.min(left, this.#opts.perPeerMs ?? 10_000));
      if (bytes && await this.#opts.store.putVerified(cid, bytes)) return bytes;
    }
    return undefined;
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

  #drainPrefetch(): void {
    while (this.#prefetching < 2 && this.#prefetch.size > 0 && !this.#closed) {
      const [cid, from] = this.#prefetch.entries().next().value!;
      this.#prefetch.delete(cid);
      this.#prefetching++;
      this.#opts.store.has(cid)
        .then((have) => have ? undefined : this.fetch(cid, from))
        .catch(() => undefined)
        .finally(() => {
          this.#prefetching--;
          this.#drainPrefetch();
        });
    }
  }
}
