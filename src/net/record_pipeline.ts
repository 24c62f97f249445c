/**
 * The parts that turn received records into stored ones, composed: signature checks on worker
 * threads ({@link RecordVerifier}), ordered batched ingest ({@link RecordIngest}) and the graph
 * writer (this thread, or a worker thread's own SQLite connection).
 * @module
 */
import type { GraphStore } from "../store/mod.ts";
import { type GraphWriter, InlineGraphWriter, WorkerGraphWriter } from "./graph_writer.ts";
import { type Ingested, RecordIngest } from "./ingest.ts";
import { RecordVerifier } from "./verify_pool.ts";
import { storeThreadsWanted } from "./threads.ts";

/**
 * Bytes of records waiting for validation before reading from peers pauses. 1,536 real records
 * (the count bound) are 2-5 MB; this only bites when peers send large records, which would
 * otherwise hold up to 1,536 MiB (`MAX_RECORD_BYTES` each) and exhaust the 128 MB heap.
 */
export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;

/** Options of a {@link RecordPipeline}. */
export interface RecordPipelineOptions<S> {
  graph: GraphStore;
  /** The graph database file, for the writer thread's own connection. */
  graphPath: string;
  /** Signature-check worker threads (default: cores - 1; 0 = in-thread). */
  verifyWorkers?: number | undefined;
  /** Store from a worker thread (default: with 4+ cores, see `storeThreadsWanted`). */
  storeInWorker?: boolean | undefined;
  /** Records buffered for validation before {@link RecordPipeline.submit} asks to pause. */
  maxPending: number;
  /** Estimated bytes of those records before it asks to pause (default 16 MiB). */
  maxPendingBytes?: number | undefined;
  /** Called after each committed batch with the records that were new. */
  onStored(batch: Ingested<S>[]): void;
  /** A record was dropped as invalid. */
  onInvalid(reason: string): void;
  /** A batch failed to store. */
  onStoreFailed(error: unknown): void;
  /** A record this node does not have arrived from `source` (queued for validation). */
  onNew?(source: S | null): void;
}

/** Validation, ingest and storage of records, with one close. `S` identifies the source peer. */
export class RecordPipeline<S> {
  /** The ingest queue (submit, counters, markers, backpressure). */
  readonly ingest: RecordIngest<S>;
  readonly #verifier: RecordVerifier;
  readonly #writer: GraphWriter;
  readonly #maxPending: number;
  readonly #maxPendingBytes: number;

  constructor(o: RecordPipelineOptions<S>) {
    this.#maxPending = o.maxPending;
    this.#maxPendingBytes = o.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.#verifier = new RecordVerifier(o.verifyWorkers);
    this.#writer = (o.storeInWorker ?? storeThreadsWanted())
      ? new WorkerGraphWriter(o.graphPath, o.graph)
      : new InlineGraphWriter(o.graph);
    this.ingest = new RecordIngest<S>({
      graph: o.graph,
      writer: this.#writer,
      validate: (raw) => this.#verifier.validate(raw),
      onStored: o.onStored,
      onInvalid: o.onInvalid,
      onStoreFailed: o.onStoreFailed,
      onNew: (source) => o.onNew?.(source),
    });
  }

  /**
   * Submit an untrusted record from `source`. Returns a promise when the validation queue is
   * full: the caller stops reading from that peer until it resolves, so TCP pushes back on the
   * sender.
   */
  submit(raw: unknown, source: S): Promise<void> | undefined {
    this.ingest.submit(raw, source);
    const max = this.#maxPending;
    const maxBytes = this.#maxPendingBytes;
    if (this.ingest.pending >= max || this.ingest.pendingBytes >= maxBytes) {
      return this.ingest.whenBelow(max / 2, maxBytes / 2);
    }
  }

  /**
   * True while the validation queue is at least half full: reading from peers is paused or
   * about to be (it resumes below half), so bodies in flight to us are not being read.
   */
  get saturated(): boolean {
    return this.ingest.pending >= this.#maxPending / 2;
  }

  /** Validate one untrusted record (shape, content id, signature). */
  validate(raw: unknown): ReturnType<RecordVerifier["validate"]> {
    return this.#verifier.validate(raw);
  }

  /** Store everything received, then stop the worker threads. */
  async close(): Promise<void> {
    await this.ingest.flush();
    this.#verifier.close();
    await this.#writer.close();
  }
}
