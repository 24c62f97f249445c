/**
 * Per-connection sync between our own nodes (PROTOCOL.md section 6): which peers are being
 * streamed to, the request we send after a peer's `hello`, the cursors a peer's `sync_mark`
 * moves once what it covers is durable, and the live marks that tell a peer how far live gossip
 * has covered it, so a reconnect asks only for what came after.
 * @module
 */
import { envelope, type HelloPayload, type SyncMarkPayload } from "../protocol/mod.ts";
import type { Stores } from "../store/mod.ts";
import type { Cursors, SyncState } from "./sync_state.ts";
import { streamAfterSeq, streamSinceTimestamp, type SyncSink } from "./sync.ts";
import { FEATURE_SEQ_SYNC } from "./options.ts";

/** Our highest local sequence numbers. */
export function seqs(s: Stores): Cursors {
  return { records: s.graph.maxSeq(), profiles: s.profiles.maxSeq(), control: s.control.maxSeq() };
}

/** What sync sessions need from a connection. */
export interface SyncPeer extends SyncSink {
  readonly id: number;
  readonly hello?: HelloPayload;
}

/** Options of {@link SyncSessions}. */
export interface SyncSessionsOptions<C extends SyncPeer> {
  stores: Stores;
  state: SyncState;
  /** Run `fn` once every record submitted so far is stored or dropped. */
  afterPending(fn: (durable: boolean) => void): void;
  /** Keep a background task until shutdown. */
  track(p: Promise<unknown>): void;
  /** The live connection with this id, if any. */
  connection(id: number): C | undefined;
}

/** Sync streams, cursors and live marks of every connection. */
export class SyncSessions<C extends SyncPeer> {
  readonly #o: SyncSessionsOptions<C>;
  readonly #streaming = new Set<number>();
  /** Peers whose initial incremental sync finished, with the cursors last marked for them. */
  readonly #liveMarks = new Map<number, Cursors>();

  constructor(o: SyncSessionsOptions<C>) {
    this.#o = o;
  }

  /** Our highest local sequence numbers. */
  seqs(): Cursors {
    const s = this.#o.stores;
    return {
      records: s.graph.maxSeq(),
      profiles: s.profiles.maxSeq(),
      control: s.control.maxSeq(),
    };
  }

  /** Our `hello`: who we are, where we listen, and that we speak incremental sync. */
  hello(
    o: { nodeId: string; agent?: string },
    listenPort: number,
    features: string[],
  ): HelloPayload {
    return {
      node_id: o.nodeId,
      listen_port: listenPort,
      agent: o.agent ?? "spore-ts",
      features: [FEATURE_SEQ_SYNC, ...features],
      db_epoch: this.#o.state.epoch,
    };
  }

  /** After a peer's `hello`: ask for what we miss, by cursor when it supports that. */
  begin(c: C, hello: HelloPayload): void {
    if (hello.features.includes(FEATURE_SEQ_SYNC)) {
      const cur = this.#o.state.cursor(hello.node_id, hello.db_epoch);
      c.send(envelope("sync_seq", { db_epoch: hello.db_epoch, ...cur }));
    } else {
      c.send(envelope("sync_request", { since: 0 }));
    }
  }

  /** Answer `sync_request {since}` (the Python flavour). */
  answerSince(c: C, since: number): void {
    this.#stream(c, (sink) => streamSinceTimestamp(this.#o.stores, sink, since));
  }

  /** Answer `sync_seq`; afterwards the peer is covered by live gossip and gets live marks. */
  answerSeq(c: C, req: Parameters<typeof streamAfterSeq>[3]): void {
    this.#stream(c, async (sink) => {
      const sent = await streamAfterSeq(this.#o.stores, sink, this.#o.state.epoch, req);
      if (!c.closed) this.#liveMarks.set(c.id, seqs(this.#o.stores));
      return sent;
    });
  }

  /** A peer's `sync_mark`: its cursors move once everything received before it is durable. */
  onMark(c: C, mark: SyncMarkPayload): void {
    const nodeId = c.hello?.node_id;
    if (!nodeId || c.hello?.db_epoch !== mark.db_epoch) return;
    this.#o.afterPending((durable) => {
      if (durable) this.#o.state.setCursor(nodeId, mark.db_epoch, mark);
    });
  }

  /**
   * Tell incremental-sync peers how far they are covered by live gossip. Everything this node
   * stores is relayed to every ready peer right after its commit (or came from that peer), and
   * a mark is queued behind those relays.
   */
  sendLiveMarks(): void {
    const cur = seqs(this.#o.stores);
    for (const [id, last] of this.#liveMarks) {
      const c = this.#o.connection(id);
      if (!c || c.closed) {
        this.#liveMarks.delete(id);
        continue;
      }
      if (this.#streaming.has(id)) continue;
      if (
        cur.records === last.records && cur.profiles === last.profiles &&
        cur.control === last.control
      ) continue;
      c.send(envelope("sync_mark", { db_epoch: this.#o.state.epoch, ...cur, done: true }));
      this.#liveMarks.set(id, cur);
    }
  }

  /** Forget a closed connection. */
  closed(c: C): void {
    this.#streaming.delete(c.id);
    this.#liveMarks.delete(c.id);
  }

  #stream(c: C, run: (sink: C) => Promise<number>): void {
    // One stream per connection: a repeated request while streaming is ignored.
    if (this.#streaming.has(c.id)) return;
    this.#streaming.add(c.id);
    this.#o.track(run(c).finally(() => this.#streaming.delete(c.id)));
  }
}
