/**
 * Record validation for the ingest hot path: the same rules as `validateRecord` (shape, content
 * id, Ed25519 signature by `node_id`), run in batches on worker threads so validating records
 * overlaps with parsing and storing them on the main thread.
 * @module
 */
import { type ExperimentRecord, type Validated, validateRecord } from "../protocol/mod.ts";

/** Message to a verify worker: records to validate. */
export interface VerifyRequest {
  batch: number;
  records: unknown[];
}

/** Reply of a verify worker: per record, null when valid, else the rejection reason. */
export interface VerifyResponse {
  batch: number;
  reasons: (string | null)[];
}

interface Pending {
  records: unknown[];
  resolvers: ((reason: string | null) => void)[];
}

const BATCH_MAX = 512;

/** Worker threads to use by default: every core but the main thread's (measured best on 2). */
export function defaultWorkerCount(): number {
  const cores = navigator.hardwareConcurrency ?? 2;
  return Math.max(1, Math.min(4, cores - 1));
}

/** Batched record validation on a small pool of workers (in-thread when `workers` is 0). */
export class RecordVerifier {
  readonly #workers: Worker[] = [];
  readonly #inflight = new Map<number, Pending>();
  #current: Pending | null = null;
  #nextBatch = 1;
  #rr = 0;
  #closed = false;

  /**
   * @param workers worker threads (0: validate on the calling thread with WebCrypto)
   * @param workerUrl the worker module (tests point it elsewhere to exercise the fallback)
   */
  constructor(
    workers: number = defaultWorkerCount(),
    workerUrl: URL = new URL("./verify_worker.ts", import.meta.url),
  ) {
    for (let i = 0; i < workers; i++) {
      try {
        const w = new Worker(workerUrl.href, {
          type: "module",
        });
        w.onmessage = (e: MessageEvent<VerifyResponse>) => this.#settle(e.data);
        w.onerror = (e) => {
          // A worker that cannot start or crashes (e.g. its module missing from a compiled
          // binary) must not reject good records: validate on this thread from now on.
          e.preventDefault();
          this.#fallBackInThread();
        };
        this.#workers.push(w);
      } catch {
        break; // workers unavailable (e.g. a restricted runtime): validate in-thread
      }
    }
  }

  /**
   * Validate an untrusted record: shape, id, signature. Same verdicts and reasons as
   * `validateRecord` from the protocol core.
   */
  async validate(raw: unknown): Promise<Validated<ExperimentRecord>> {
    if (this.#closed) return { ok: false, reason: "validator closed" };
    if (this.#workers.length === 0) return await validateRecord(raw);
    // The worker checks the shape too: the main thread only parses and stores.
    const reason = await this.#submit(raw);
    return reason === null ? { ok: true, value: raw as ExperimentRecord } : { ok: false, reason };
  }

  /** Stop the workers; pending validations fail. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#workers) w.terminate();
    this.#failAll();
    if (this.#current) { for (const r of this.#current.resolvers) r("validator closed"); }
    this.#current = null;
  }

  #submit(raw: unknown): Promise<string | null> {
    if (this.#workers.length === 0) {
      return validateRecord(raw).then((v) => v.ok ? null : v.reason);
    }
    return new Promise((resolve) => {
      if (!this.#current) {
        this.#current = { records: [], resolvers: [] };
        // Everything validated in the same turn of the event loop goes out as one batch.
        queueMicrotask(() => this.#dispatch());
      }
      const cur = this.#current;
      cur.records.push(raw);
      cur.resolvers.push(resolve);
      if (cur.records.length >= BATCH_MAX) this.#dispatch();
    });
  }

  #dispatch(): void {
    const cur = this.#current;
    if (!cur || cur.records.length === 0 || this.#workers.length === 0) return;
    this.#current = null;
    const batch = this.#nextBatch++;
    this.#inflight.set(batch, cur);
    const req: VerifyRequest = { batch, records: cur.records };
    // In range: the modulus of a non-empty list (checked above).
    this.#workers[this.#rr++ % this.#workers.length]!.postMessage(req);
  }

  #settle(res: VerifyResponse): void {
    const p = this.#inflight.get(res.batch);
    if (!p) return;
    this.#inflight.delete(res.batch);
    // A missing entry (malformed reply) fails closed; null means valid.
    p.resolvers.forEach((r, i) =>
      r(res.reasons[i] === undefined ? "validator failed" : res.reasons[i])
    );
  }

  #fallBackInThread(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers.length = 0;
    const pending = [...this.#inflight.values()];
    this.#inflight.clear();
    if (this.#current) pending.push(this.#current);
    this.#current = null;
    for (const p of pending) {
      // One resolver per record, pushed together.
      p.records.forEach((raw, i) => {
        const resolve = p.resolvers[i]!;
        validateRecord(raw).then(
          (v) => resolve(v.ok ? null : v.reason),
          () => resolve("validator failed"),
        );
      });
    }
  }

  #failAll(): void {
    for (const p of this.#inflight.values()) for (const r of p.resolvers) r("validator failed");
    this.#inflight.clear();
  }
}
