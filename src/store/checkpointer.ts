/**
 * Background WAL checkpoints. SQLite's automatic checkpoint copies the WAL into the database file
 * on the thread that commits, and during bulk inserts that copy (reads, writes, two fsyncs) was
 * about 18% of insert time. After bulk writes a worker thread with its own connection runs a
 * passive checkpoint after each commit instead (at most every {@link MIN_INTERVAL_MS}), so the
 * writer's automatic checkpoint, kept as the bound on the WAL, finds little left to copy.
 * A worker costs about 14 MB, so it starts only once a writer has stored
 * {@link SPAWN_ROWS} rows and exits when writes stop for {@link IDLE_MS}. It pays only where a
 * core is free for it: the node on 2 cores leaves it off (see `src/net/threads.ts`).
 * @module
 */
import { type CheckpointerStart, Control, CONTROL_WORDS, State } from "./checkpoint_control.ts";

/** Rows written without a worker before one is started. */
export const SPAWN_ROWS = 2_000;
/** Shortest time between two requests. */
export const MIN_INTERVAL_MS = 100;
/** A worker without requests for this long exits. */
export const IDLE_MS = 60_000;
/** How long `close()` waits for the worker to close its connection. */
const STOP_WAIT_MS = 2_000;

/** Tuning and test seams of a {@link WalCheckpointer}. */
export interface CheckpointerOptions {
  spawnRows?: number;
  minIntervalMs?: number;
  idleMs?: number;
  /** The worker module (tests point it elsewhere). */
  workerUrl?: URL;
}

/** Runs the WAL checkpoints of one SQLite file on a worker thread, started on demand. */
export class WalCheckpointer {
  readonly #path: string;
  readonly #spawnRows: number;
  readonly #minIntervalMs: number;
  readonly #idleMs: number;
  readonly #workerUrl: URL;
  #worker: Worker | null = null;
  #ctl: Int32Array | null = null;
  #rowsWithoutWorker = 0;
  #lastRequest = -Infinity;
  #checkpointsBefore = 0;
  #disabled = false;

  /** @param path the SQLite file, already open in WAL mode by the writer */
  constructor(path: string, opts: CheckpointerOptions = {}) {
    this.#path = path;
    this.#spawnRows = opts.spawnRows ?? SPAWN_ROWS;
    this.#minIntervalMs = opts.minIntervalMs ?? MIN_INTERVAL_MS;
    this.#idleMs = opts.idleMs ?? IDLE_MS;
    this.#workerUrl = opts.workerUrl ?? new URL("./checkpoint_worker.ts", import.meta.url);
  }

  /** Checkpoints completed in the background so far (by all workers of this instance). */
  get completed(): number {
    return this.#checkpointsBefore + (this.#ctl ? Atomics.load(this.#ctl, Control.Done) : 0);
  }

  /** True while a worker thread is running. */
  get running(): boolean {
    return this.#live() !== null;
  }

  /** Tell the checkpointer that a transaction writing `rows` rows has committed. */
  wrote(rows: number): void {
    if (this.#disabled || rows <= 0) return;
    const ctl = this.#live();
    if (ctl === null) {
      this.#rowsWithoutWorker += rows;
      if (this.#rowsWithoutWorker >= this.#spawnRows) this.#spawn();
      return;
    }
    const now = performance.now();
    if (Atomics.load(ctl, Control.State) !== State.Ready) return;
    if (Atomics.load(ctl, Control.Busy) !== 0 || now - this.#lastRequest < this.#minIntervalMs) {
      return;
    }
    this.#lastRequest = now;
    Atomics.store(ctl, Control.Busy, 1);
    Atomics.add(ctl, Control.Requests, 1);
    Atomics.notify(ctl, Control.Requests);
  }

  /**
   * Stop the worker. Waits (briefly) for it to close its connection, so that the writer's close
   * is the last one and SQLite checkpoints and removes the WAL as usual.
   */
  close(): void {
    this.#disabled = true;
    this.#stop();
  }

  /** The control array of a running worker; forgets a worker that has exited. */
  #live(): Int32Array | null {
    const ctl = this.#ctl;
    if (ctl === null) return null;
    const state = Atomics.load(ctl, Control.State);
    if (state === State.Starting || state === State.Ready) return ctl;
    // Idle exit: the next bulk write starts a new worker. A worker that could not open the
    // file would fail again, so checkpoints stay with the writer from then on.
    if (state === State.Failed) this.#disabled = true;
    this.#stop();
    return null;
  }

  #spawn(): void {
    this.#rowsWithoutWorker = 0;
    const ctl = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    try {
      const worker = new Worker(this.#workerUrl.href, { type: "module" });
      worker.onerror = (e) => {
        // A worker that cannot start (e.g. its module missing from a compiled binary) leaves
        // checkpoints to the writer, as SQLite does by default.
        e.preventDefault();
        this.#disabled = true;
        this.#stop(false);
      };
      const start: CheckpointerStart = {
        path: this.#path,
        control: ctl.buffer as SharedArrayBuffer,
        idleMs: this.#idleMs,
      };
      worker.postMessage(start);
      this.#worker = worker;
      this.#ctl = ctl;
    } catch {
      this.#disabled = true; // workers unavailable in this runtime
    }
  }

  /** Stop and forget the worker; `wait`: give it time to close its connection first. */
  #stop(wait = true): void {
    const [worker, ctl] = [this.#worker, this.#ctl];
    this.#worker = null;
    this.#ctl = null;
    if (worker === null || ctl === null) return;
    this.#checkpointsBefore += Atomics.load(ctl, Control.Done);
    Atomics.store(ctl, Control.Stop, 1);
    Atomics.add(ctl, Control.Requests, 1);
    Atomics.notify(ctl, Control.Requests);
    const deadline = performance.now() + (wait ? STOP_WAIT_MS : 0);
    for (;;) {
      const state = Atomics.load(ctl, Control.State);
      const left = deadline - performance.now();
      if ((state !== State.Starting && state !== State.Ready) || left <= 0) break;
      Atomics.wait(ctl, Control.State, state, left);
    }
    worker.terminate();
  }
}
