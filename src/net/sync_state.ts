/**
 * Persistent sync bookkeeping in `<data>/db/net_state.json`: this node's database epoch, the
 * incremental-sync cursors we hold for each peer (per peer node_id and that peer's epoch), and
 * the timestamp watermarks used with Python peers, per address.
 *
 * The epoch names one lifetime of our local sequence numbers: if the databases are replaced
 * (sequence numbers go backwards), a new epoch tells peers to discard their cursors for us.
 * @module
 */
import { dirname } from "node:path";
import { atomicWrite } from "../config.ts";
import { safetyCatch } from "../errors.ts";

/** Sequence cursors into one peer's stores. */
export interface Cursors {
  records: number;
  profiles: number;
  control: number;
}

/** Highest local sequence numbers, to detect replaced databases. */
export type SeqHighWater = Cursors;

interface StateFile {
  epoch: string;
  high: SeqHighWater;
  cursors: Record<string, Cursors & { epoch: string }>;
  watermarks: Record<string, number>;
}

/** Most peers we keep cursors or watermarks for; the oldest entries go first. */
const MAX_ENTRIES = 10_000;
const ZERO: Cursors = { records: 0, profiles: 0, control: 0 };

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isCursors(v: unknown): v is Cursors {
  const c = v as Cursors | null;
  return typeof c === "object" && c !== null && isCount(c.records) && isCount(c.profiles) &&
    isCount(c.control);
}

function parseState(text: string): StateFile | undefined {
  try {
    const raw = JSON.parse(text) as Partial<StateFile>;
    if (typeof raw?.epoch !== "string" || !isCursors(raw.high)) return undefined;
    const cursors: StateFile["cursors"] = {};
    for (const [k, v] of Object.entries(raw.cursors ?? {})) {
      if (isCursors(v) && typeof (v as { epoch?: unknown }).epoch === "string") cursors[k] = v;
    }
    const watermarks: StateFile["watermarks"] = {};
    for (const [k, v] of Object.entries(raw.watermarks ?? {})) if (isCount(v)) watermarks[k] = v;
    return { epoch: raw.epoch, high: raw.high, cursors, watermarks };
  } catch {
    return undefined;
  }
}

function newEpoch(): string {
  return crypto.randomUUID();
}

function trim<T>(rec: Record<string, T>): void {
  const keys = Object.keys(rec);
  for (const key of keys.slice(0, Math.max(0, keys.length - MAX_ENTRIES))) delete rec[key];
}

/** Cursors, watermarks and our epoch, saved to disk a moment after each change. */
export class SyncState {
  readonly #path: string;
  readonly #state: StateFile;
  readonly #saveDelayMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #saving: Promise<void> = Promise.resolve();

  private constructor(path: string, state: StateFile, saveDelayMs: number) {
    this.#path = path;
    this.#state = state;
    this.#saveDelayMs = saveDelayMs;
  }

  /**
   * Load the state file (a missing or unreadable one starts fresh), starting a new epoch when
   * the databases hold fewer sequence numbers than we once handed out.
   */
  static async load(path: string, current: SeqHighWater, saveDelayMs = 1000): Promise<SyncState> {
    let text: string | undefined;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      safetyCatch(e); // absent or unreadable: start fresh
    }
    const parsed = text === undefined ? undefined : parseState(text);
    const state: StateFile = parsed ??
      { epoch: newEpoch(), high: { ...current }, cursors: {}, watermarks: {} };
    if (
      current.records < state.high.records || current.profiles < state.high.profiles ||
      current.control < state.high.control
    ) {
      state.epoch = newEpoch();
    }
    state.high = { ...current };
    const s = new SyncState(path, state, saveDelayMs);
    await s.save();
    return s;
  }

  /** This node's database epoch (sent in `hello`). */
  get epoch(): string {
    return this.#state.epoch;
  }

  /** Our cursors into peer `nodeId`'s stores for its epoch `epoch` (zeros when unknown). */
  cursor(nodeId: string, epoch: string): Cursors {
    const c = this.#state.cursors[nodeId];
    return c && c.epoch === epoch
      ? { records: c.records, profiles: c.profiles, control: c.control }
      : { ...ZERO };
  }

  /** Remember cursors into a peer's stores; saved shortly after. */
  setCursor(nodeId: string, epoch: string, c: Cursors): void {
    delete this.#state.cursors[nodeId]; // re-insert: most recent last, for trimming
    this.#state.cursors[nodeId] = {
      epoch,
      records: c.records,
      profiles: c.profiles,
      control: c.control,
    };
    trim(this.#state.cursors);
    this.#scheduleSave();
  }

  /** Timestamp watermark for a Python peer at `address` (0 when unknown). */
  watermark(address: string): number {
    return this.#state.watermarks[address] ?? 0;
  }

  /** Raise the watermark of `address` (never lowers it). */
  raiseWatermark(address: string, timestamp: number): void {
    if (!isCount(timestamp) || timestamp <= this.watermark(address)) return;
    delete this.#state.watermarks[address];
    this.#state.watermarks[address] = timestamp;
    trim(this.#state.watermarks);
    this.#scheduleSave();
  }

  /** Record our current sequence numbers (so a later shrink is detected). */
  noteHighWater(current: SeqHighWater): void {
    const h = this.#state.high;
    if (
      current.records > h.records || current.profiles > h.profiles || current.control > h.control
    ) {
      this.#state.high = {
        records: Math.max(h.records, current.records),
        profiles: Math.max(h.profiles, current.profiles),
        control: Math.max(h.control, current.control),
      };
      this.#scheduleSave();
    }
  }

  /** Write the file now (atomic replace). */
  save(): Promise<void> {
    this.#saving = this.#saving.then(async () => {
      await Deno.mkdir(dirname(this.#path), { recursive: true });
      await atomicWrite(this.#path, JSON.stringify(this.#state));
    }).catch(safetyCatch); // the next save retries; lost cursors only cost a longer sync
    return this.#saving;
  }

  /** Cancel the pending delayed save and write now. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.save();
  }

  #scheduleSave(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.save();
    }, this.#saveDelayMs);
  }
}
