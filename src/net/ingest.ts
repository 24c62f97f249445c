/**
 * The record ingest pipeline: dedupe (bounded cache, then the database), validate concurrently,
 * store in arrival order in batched transactions, then report what was new so it can be relayed.
 * Markers queued between records run once everything before them is durable, which is what lets
 * sync cursors be persisted safely.
 * @module
 */
import type { ExperimentRecord, Validated } from "../protocol/mod.ts";
import type { GraphStore } from "../store/mod.ts";
import { type GraphWriter, InlineGraphWriter } from "./graph_writer.ts";
import { LruSet } from "./lru.ts";
import { errorText, safetyCatch } from "../errors.ts";

/** Validates one untrusted record (see `RecordVerifier.validate`). */
export type RecordValidator = (raw: unknown) => Promise<Validated<ExperimentRecord>>;

/** A newly stored record and the peer it came from (null: local). */
export interface Ingested<S> {
  record: ExperimentRecord;
  source: S | null;
}

/** Counters since start. */
export interface IngestStats {
  received: number;
  stored: number;
  duplicates: number;
  invalid: number;
}

/**
 * Most records per transaction. Each commit rewrites every index page its random content-hash
 * keys touched, so larger batches cost less per record (scripts/bench/store.ts: about 30% less
 * at 2,500 than at 1,000); larger still stalls reading while the batch commits and holds more
 * records in memory (scripts/bench/net.ts). A caught-up pump commits sooner (`lingerMs`).
 */
export const DEFAULT_BATCH = 2_500;

/**
 * Most bytes of records per transaction (estimated by {@link recordBytes}). A record may be up to
 * 1 MiB (docs/LIMITS.md): 2,500 of those would be 2.5 GB of heap. Real records are 1-30 KB, so
 * batches of real traffic never reach this and keep their 2,500-record size.
 */
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Heap cost of an untrusted record, estimated from its text: the sum of its top-level string
 * lengths (one byte per character, as V8 stores ASCII) plus a fixed 512 for the object and
 * numbers. Cheap enough for every record received.
 */
export function recordBytes(raw: unknown): number {
  let n = 512;
  if (typeof raw !== "object" || raw === null) return n;
  for (const v of Object.values(raw)) if (typeof v === "string") n += v.length;
  return n;
}

/** Other copies of an in-flight id kept in case the first one fails validation. */
const MAX_ALTERNATIVES = 3;

type Item<S> =
  | {
    kind: "record";
    id: string;
    bytes: number;
    verdict: Promise<Validated<ExperimentRecord>>;
    source: S | null;
  }
  | { kind: "marker"; run: (durable: boolean) => void };

/** Options of {@link RecordIngest}. */
export interface IngestOptions<S> {
  graph: GraphStore;
  validate: RecordValidator;
  /** Where batches are stored (default: `graph` on this thread). */
  writer?: GraphWriter | undefined;
  /** Called after each committed batch with the records that were new. */
  onStored: (batch: Ingested<S>[]) => void;
  onInvalid?: (reason: string, source: S | null) => void;
  /** A record this node does not have arrived from `source` (queued for validation). */
  onNew?: (source: S | null) => void;
  /** A batch failed to store (the records are dropped; markers report not durable). */
  onStoreFailed?: (error: unknown) => void;
  /** Most records per transaction (default {@link DEFAULT_BATCH}). */
  batchSize?: number;
  /** How long a caught-up pump waits for more records before committing (default 5 ms). */
  lingerMs?: number;
  /** Ids remembered in memory in front of the database (default 100,000). */
  dedupeCapacity?: number;
}

/** Ordered, batched record ingest. `S` identifies the source peer. */
export class RecordIngest<S> {
  /** Counters since start. */
  readonly stats: IngestStats = { received: 0, stored: 0, duplicates: 0, invalid: 0 };
  readonly #opts: IngestOptions<S>;
  readonly #writer: GraphWriter;
  readonly #seen: LruSet;
  /** Ids being validated, with other copies that arrived meanwhile (tried if this one fails). */
  readonly #inflight = new Map<string, { raw: unknown; source: S | null }[]>();
  #queue: Item<S>[] = [];
  #head = 0;
  #records = 0;
  #pendingBytes = 0;
  #pumping = false;
  /** Set while the pump lingers for more work; called when some arrives. */
  #more: (() => void) | undefined;
  #failedSinceMarker = false;
  /** Markers reached while records before them wait in the open batch. */
  #markers: ((durable: boolean) => void)[] = [];
  #waiters: { below: number; belowBytes: number; resolve: () => void }[] = [];

  constructor(opts: IngestOptions<S>) {
    this.#opts = opts;
    this.#writer = opts.writer ?? new InlineGraphWriter(opts.graph);
    this.#seen = new LruSet(opts.dedupeCapacity ?? 100_000);
  }

  /** Records submitted and not yet stored or dropped. */
  get pending(): number {
    return this.#records;
  }

  /** Estimated bytes of the records counted by {@link pending} ({@link recordBytes}). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** True when record `id` is stored, or received and being validated or stored now. */
  knows(id: string): boolean {
    return this.#seen.has(id) || this.#inflight.has(id) || this.#opts.graph.has(id);
  }

  /** Submit an untrusted record from `source`. Never throws. */
  submit(raw: unknown, source: S | null): void {
    this.stats.received++;
    const id = (raw as { id?: unknown }).id;
    if (typeof id !== "string" || id.length !== 64) {
      this.stats.invalid++;
      this.#opts.onInvalid?.('record: field "id" must be a 64-character hex digest', source);
      return;
    }
    if (this.#seen.has(id)) {
      this.stats.duplicates++;
      return;
    }
    const alternatives = this.#inflight.get(id);
    if (alternatives) {
      // Keep a few other copies: if the one in flight is a forgery reusing the id, the genuine
      // record must not be lost as a "duplicate" of it.
      if (alternatives.length < MAX_ALTERNATIVES) alternatives.push({ raw, source });
      this.stats.duplicates++;
      return;
    }
    if (this.#opts.graph.has(id)) {
      this.#seen.add(id);
      this.stats.duplicates++;
      return;
    }
    this.#enqueue(id, raw, source, []);
    this.#opts.onNew?.(source);
  }

  #enqueue(
    id: string,
    raw: unknown,
    source: S | null,
    alternatives: { raw: unknown; source: S | null }[],
    next = false,
  ): void {
    this.#inflight.set(id, alternatives);
    const bytes = recordBytes(raw);
    const item: Item<S> = { kind: "record", id, bytes, verdict: this.#opts.validate(raw), source };
    // A retried copy goes next in line, ahead of any marker queued after the failed one.
    if (next) this.#queue.splice(this.#head, 0, item);
    else this.#queue.push(item);
    this.#records++;
    this.#pendingBytes += bytes;
    this.#pump();
  }

  /**
   * Run `fn` once every record submitted before this call is stored or dropped. `durable` is
   * false when a database write failed in between (the caller must not advance cursors then).
   */
  afterPending(fn: (durable: boolean) => void): void {
    this.#queue.push({ kind: "marker", run: fn });
    this.#pump();
  }

  /** Resolve once fewer than `n` records, and fewer than `bytes` bytes of them, are pending. */
  whenBelow(n: number, bytes = Infinity): Promise<void> {
    if (this.#records < n && this.#pendingBytes < bytes) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ below: n, belowBytes: bytes, resolve }));
  }

  /** Resolve once everything submitted so far is stored or dropped. */
  flush(): Promise<void> {
    return new Promise((resolve) => this.afterPending(() => resolve()));
  }

  async #pump(): Promise<void> {
    if (this.#pumping) {
      this.#more?.();
      return;
    }
    this.#pumping = true;
    const batchSize = this.#opts.batchSize ?? DEFAULT_BATCH;
    const lingerMs = this.#opts.lingerMs ?? 5;
    let batch: Ingested<S>[] = [];
    let batchBytes = 0;
    try {
      for (;;) {
        const item = this.#queue[this.#head];
        if (item === undefined) {
          if (batch.length === 0) break;
          // Caught up: wait a moment for more before committing, so a stream is stored in a
          // few large transactions instead of many small ones.
          if (batch.length < batchSize && await this.#waitForMore(lingerMs)) continue;
          batch = await this.#commit(batch);
          batchBytes = 0;
          this.#wake();
          continue;
        }
        if (item.kind === "marker") {
          this.#advance();
          // It runs once the open batch commits: cutting the batch here would make frequent
          // markers (sync cursors) shrink every transaction.
          this.#markers.push(item.run);
          if (batch.length === 0) this.#runMarkers();
          continue;
        }
        const verdict = await item.verdict.catch((e): Validated<ExperimentRecord> => {
          safetyCatch(e); // a validator bug must surface; a dead worker is just a failed check
          return { ok: false, reason: errorText(e) };
        });
        this.#advance();
        const alternatives = this.#inflight.get(item.id) ?? [];
        this.#records--;
        this.#pendingBytes -= item.bytes;
        if (verdict.ok) {
          alternatives.length = 0; // the genuine copy is in: other copies are plain duplicates
          batch.push({ record: verdict.value, source: item.source });
          batchBytes += item.bytes;
        } else {
          this.#inflight.delete(item.id);
          this.stats.invalid++;
          this.#opts.onInvalid?.(verdict.reason, item.source);
          const next = alternatives.shift();
          if (next) {
            this.stats.duplicates--; // it was counted as a duplicate of the forgery
            this.#enqueue(item.id, next.raw, next.source, alternatives, true);
          }
        }
        if (batch.length >= batchSize || batchBytes >= MAX_BATCH_BYTES) {
          batch = await this.#commit(batch);
          batchBytes = 0;
        }
        this.#wake();
      }
    } finally {
      this.#pumping = false;
      this.#wake();
    }
  }

  /** Resolve true when more work is queued within `ms`, else false. */
  #waitForMore(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#more = undefined;
        resolve(false);
      }, ms);
      this.#more = () => {
        clearTimeout(timer);
        this.#more = undefined;
        resolve(true);
      };
    });
  }

  #advance(): void {
    this.#head++;
    // Compact now and then instead of shift(): shift is O(n) on a long queue.
    if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Run the markers waiting on the batch just committed (or on nothing). */
  #runMarkers(): void {
    // With none waiting, a failure must stay noted for the next marker.
    if (this.#markers.length === 0) return;
    // One verdict for all of them: each waited on every record of the batch.
    const durable = !this.#failedSinceMarker;
    this.#failedSinceMarker = false;
    const markers = this.#markers;
    this.#markers = [];
    for (const run of markers) {
      try {
        run(durable);
      } catch (e) {
        safetyCatch(e); // a marker callback must not stop the pipeline
      }
    }
  }

  async #commit(batch: Ingested<S>[]): Promise<Ingested<S>[]> {
    if (batch.length === 0) return batch;
    try {
      await this.#store(batch);
    } finally {
      this.#runMarkers();
    }
    return [];
  }

  async #store(batch: Ingested<S>[]): Promise<void> {
    // Ids are unique within the pipeline (in-flight set + cache + database check at submit), so
    // no second lookup here; a record stored meanwhile by someone else is just re-relayed.
    let added: number;
    try {
      added = await this.#writer.insertMany(batch.map((b) => b.record));
    } catch (e) {
      this.#failedSinceMarker = true;
      safetyCatch(e);
      this.#opts.onStoreFailed?.(e);
      for (const b of batch) this.#inflight.delete(b.record.id);
      return;
    }
    for (const b of batch) {
      this.#seen.add(b.record.id);
      // Only now: until stored, a second copy must still be recognized as a duplicate.
      this.#inflight.delete(b.record.id);
    }
    this.stats.stored += added;
    this.stats.duplicates += batch.length - added;
    if (added > 0) {
      try {
        this.#opts.onStored(batch);
      } catch (e) {
        safetyCatch(e); // relaying is best effort; the records are stored
      }
    }
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const keep = [];
    for (const w of this.#waiters) {
      if (this.#records < w.below && this.#pendingBytes < w.belowBytes) w.resolve();
      else keep.push(w);
    }
    this.#waiters = keep;
  }
}
