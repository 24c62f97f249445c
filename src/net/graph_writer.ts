/**
 * Where the ingest pipeline stores record batches. The worker writer runs `insertMany` on its own
 * SQLite connection in a worker thread (WAL allows it beside the main connection's readers), so
 * SQLite work overlaps with parsing on the main thread; the inline writer uses the main graph.
 * @module
 */
import type { ExperimentRecord } from "../protocol/mod.ts";
import type { GraphStore } from "../store/mod.ts";

/** Message to the writer worker. */
export type WriterRequest =
  | { kind: "open"; id: number; path: string }
  | { kind: "insert"; id: number; records: ExperimentRecord[] }
  | { kind: "close"; id: number };

/** Reply of the writer worker. */
export type WriterReply =
  | { id: number; ok: true; added: number }
  | { id: number; ok: false; error: string };

/** Stores validated record batches; resolves with how many were new. */
export interface GraphWriter {
  insertMany(records: ExperimentRecord[]): Promise<number>;
  close(): Promise<void>;
}

/** Writes through the main thread's graph store. */
export class InlineGraphWriter implements GraphWriter {
  readonly #graph: GraphStore;

  constructor(graph: GraphStore) {
    this.#graph = graph;
  }

  /** Store a batch in one transaction. */
  insertMany(records: ExperimentRecord[]): Promise<number> {
    try {
      return Promise.resolve(this.#graph.insertMany(records));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Nothing to release: the graph belongs to the caller. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Writes on a worker thread's own connection to `path`. If the worker cannot start or dies,
 * it falls back to the inline writer, so records are never lost to a missing worker module.
 */
export class WorkerGraphWriter implements GraphWriter {
  readonly #fallback: InlineGraphWriter;
  readonly #pending = new Map<number, { resolve: (r: WriterReply) => void }>();
  #worker: Worker | undefined;
  #nextId = 1;
  #ready: Promise<boolean>;

  /**
   * @param path the graph database file
   * @param graph the main thread's store, used if the worker is unavailable
   * @param workerUrl the worker module (tests point it elsewhere to exercise the fallback)
   */
  constructor(
    path: string,
    graph: GraphStore,
    workerUrl: URL = new URL("./graph_writer_worker.ts", import.meta.url),
  ) {
    this.#fallback = new InlineGraphWriter(graph);
    try {
      this.#worker = new Worker(workerUrl.href, { type: "module" });
      this.#worker.onmessage = (e: MessageEvent<WriterReply>) => {
        const p = this.#pending.get(e.data.id);
        this.#pending.delete(e.data.id);
        p?.resolve(e.data);
      };
      this.#worker.onerror = (e) => {
        e.preventDefault();
        this.#fail("graph writer worker failed");
      };
      this.#ready = this.#call({ kind: "open", id: 0, path }).then((r) => {
        if (!r.ok) this.#fail(r.error);
        return r.ok;
      });
    } catch {
      this.#worker = undefined;
      this.#ready = Promise.resolve(false);
    }
  }

  /** Store a batch in one transaction on the worker's connection. */
  async insertMany(records: ExperimentRecord[]): Promise<number> {
    if (!(await this.#ready) || !this.#worker) return this.#fallback.insertMany(records);
    const r = await this.#call({ kind: "insert", id: 0, records });
    if (r.ok) return r.added;
    // The worker's connection failed for this batch: the main connection reports the real error
    // (or succeeds, e.g. after a transient lock), so nothing is dropped silently.
    if (!this.#worker) return this.#fallback.insertMany(records);
    throw new Error(r.error);
  }

  /** Close the worker's connection and stop it. */
  async close(): Promise<void> {
    if (!this.#worker) return;
    if (await this.#ready) await this.#call({ kind: "close", id: 0 });
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  #call(req: WriterRequest): Promise<WriterReply> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      if (!this.#worker) return resolve({ id, ok: false, error: "graph writer unavailable" });
      this.#pending.set(id, { resolve });
      this.#worker.postMessage({ ...req, id });
    });
  }

  #fail(error: string): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    for (const [id, p] of this.#pending) p.resolve({ id, ok: false, error });
    this.#pending.clear();
  }
}
