/**
 * A NodeHandle over a data dir's stores alone, for `spore explorer` without a running node in
 * this process. It has no peers; live events come from watching the stores for rows another
 * process (a `spore run` on the same data dir) added, using the stores' insertion sequences.
 * @module
 */
import type { ExperimentRecord } from "../protocol/mod.ts";
import { checkControl } from "../protocol/mod.ts";
import type { NodeEvent, NodeHandle, PeerInfo } from "../node_types.ts";
import type { Stores } from "../store/mod.ts";

/** Rows read per store per poll, so a large burst is spread over several polls. */
const POLL_BATCH = 500;

/** Store-backed node with no network, emitting events for rows added by any writer. */
export class StoreNode implements NodeHandle {
  readonly nodeId: string;
  readonly stores: Stores;
  readonly #listeners = new Set<(e: NodeEvent) => void>();
  #graphSeq: number;
  #profileSeq: number;
  #controlSeq: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  readonly events = {
    on: (listener: (e: NodeEvent) => void): () => void => {
      this.#listeners.add(listener);
      return () => this.#listeners.delete(listener);
    },
  };

  /** @param nodeId this data dir's identity, or "" when it has none */
  constructor(stores: Stores, nodeId: string) {
    this.stores = stores;
    this.nodeId = nodeId;
    // Only rows added from now on are news; the pages load everything older over the API.
    this.#graphSeq = stores.graph.maxSeq();
    this.#profileSeq = stores.profiles.maxSeq();
    this.#controlSeq = stores.control.maxSeq();
  }

  /** Poll the stores every `intervalMs` for rows another process added. */
  watch(intervalMs = 1000): void {
    this.unwatch();
    this.#timer = setInterval(() => this.poll(), intervalMs);
  }

  /** Stop polling. */
  unwatch(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Emit an event for every row added since the last poll (one batch per store). */
  poll(): void {
    try {
      for (const { seq, record } of this.stores.graph.afterSeq(this.#graphSeq, POLL_BATCH)) {
        this.#graphSeq = seq;
        this.#emit({ kind: "experiment", record, source: "peer" });
      }
      for (const { seq, profile } of this.stores.profiles.afterSeq(this.#profileSeq, POLL_BATCH)) {
        this.#profileSeq = seq;
        this.#emit({ kind: "profile", profile });
      }
      for (
        const { seq, type, payload } of this.stores.control.afterSeq(this.#controlSeq, POLL_BATCH)
      ) {
        this.#controlSeq = seq;
        // The log holds what the node accepted; re-check the shape before showing it anyway.
        const checked = checkControl(type, payload);
        if (checked.ok) this.#emit({ kind: "control", event: checked.value });
      }
    } catch (err) {
      // The writer may hold a lock for a moment; the next poll catches up.
      console.error(`explorer: store poll failed: ${String(err)}`);
    }
  }

  peers(): PeerInfo[] {
    return [];
  }

  /** Local artifacts only: without a network there is no peer to ask. */
  fetchArtifact(cid: string): Promise<Uint8Array | undefined> {
    return this.stores.artifacts.get(cid);
  }

  /** Store a record locally (there is no network to gossip it to). */
  async publish(record: ExperimentRecord, code?: Uint8Array): Promise<void> {
    if (code) await this.stores.artifacts.put(code);
    this.stores.graph.insert(record);
    this.poll();
  }

  #emit(event: NodeEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        console.error(`explorer: event listener failed: ${String(err)}`);
      }
    }
  }
}
