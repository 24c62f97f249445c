/**
 * Announce, then pull, on live connections: the {@link Inventory} state (pure, in
 * `inventory.ts`) wired to sockets. Sends the `announce` batches after a short linger and the
 * `get_records` requests the state asks for, and counts the bodies served.
 * @module
 */
import { envelope } from "../protocol/mod.ts";
import {
  type IdBatch,
  Inventory,
  type InventoryOptions,
  type InventoryStats,
} from "./inventory.ts";

/** What announcing needs from a connection. */
export interface AnnouncePeer {
  send(json: string): boolean;
}

/** Announce/pull traffic of a network. */
export class AnnounceGossip<P extends AnnouncePeer> {
  /** The announce/pull state (peers, wanted ids, marks waiting). */
  readonly inventory: Inventory<P>;
  readonly #lingerMs: number;
  readonly #serve: (peer: P, ids: readonly string[]) => number;
  /** Pending `announce` flush (after the linger), if one is scheduled. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #served = 0;
  #closed = false;

  /** `serve` sends `peer` the bodies of `ids` we have and returns how many it sent. */
  constructor(
    o: InventoryOptions & { lingerMs: number; serve(peer: P, ids: readonly string[]): number },
  ) {
    this.inventory = new Inventory<P>(o);
    this.#lingerMs = o.lingerMs;
    this.#serve = o.serve;
  }

  /** Counters since start, with the record bodies served to `get_records`. */
  get stats(): InventoryStats & { served: number } {
    return { ...this.inventory.stats, served: this.#served };
  }

  /** A peer's `sync_mark`: `apply` runs once nothing that peer announced is outstanding. */
  mark(peer: P, apply: () => void): void {
    this.inventory.mark(peer, apply);
  }

  /** Records were stored (from `source`, null: here): ask for what they reveal, announce them. */
  stored(ids: readonly string[], source: P | null): void {
    this.#ask(this.inventory.stored(ids, source));
    if (this.#timer !== undefined || this.inventory.queued === 0 || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#lingerMs);
  }

  /** Send the announcements queued so far now (also before a sync mark that covers them). */
  flush(): void {
    for (const b of this.inventory.takeAnnouncements()) {
      b.peer.send(envelope("announce", { ids: b.ids }));
    }
  }

  /** `peer` announced `ids`: request the ones we want. */
  announced(peer: P, ids: readonly string[]): void {
    this.#ask(this.inventory.announced(peer, ids));
  }

  /** `peer` asked for `ids`: the bodies we have are sent. */
  requested(peer: P, ids: readonly string[]): void {
    this.inventory.requestedBy(peer, ids);
    this.#served += this.#serve(peer, ids);
  }

  /** `peer` is gone: its outstanding requests go to other announcers. */
  peerGone(peer: P): void {
    this.#ask(this.inventory.removePeer(peer));
  }

  /** Housekeeping: requests past their deadline go to the next announcer. */
  expire(): void {
    this.#ask(this.inventory.expire());
  }

  /** Stop the linger timer. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #ask(batches: IdBatch<P>[]): void {
    for (const b of batches) b.peer.send(envelope("get_records", { ids: b.ids }));
  }
}
