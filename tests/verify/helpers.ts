/**
 * Fixtures for the verification tests: deterministic keys, records whose true val_bpb is a
 * function of their code, a stand-in trainer, a manual clock, and in-process nodes sharing
 * events over an in-memory bus.
 */
import {
  type ControlEvent,
  type ExperimentPayload,
  type ExperimentRecord,
  type ExperimentStatus,
  type KeyPair,
  keyPairFromSeed,
  sha256Hex,
  signControl,
  signRecord,
} from "../../src/protocol/mod.ts";
import { openStores, type Stores } from "../../src/store/mod.ts";
import type { PeerInfo, Trainer, TrainOutcome, TrainProgressUpdate } from "../../src/node_types.ts";
import { LiveRuns } from "../../src/research/live_run.ts";
import { type Timers, Verifier } from "../../src/verify/mod.ts";

/** Deterministic key number `i` (0-based). */
export function key(i: number): KeyPair {
  return keyPairFromSeed(new Uint8Array(32).fill(i + 1));
}

export const DATASET = "climbmix-400b-shuffle";
export const PREPARE = "ab".repeat(32);

/** The val_bpb any honest run of `code` gives: a pure function of the code text. */
export function trueBpb(code: string): number {
  return 0.95 + parseInt(sha256Hex(code).slice(0, 8), 16) / 2 ** 32 * 0.1;
}

/** Options of a test record. */
export interface RecordSpec {
  code?: string;
  /** Added to the true val_bpb: 0 for an honest claim, negative for an inflated one. */
  claimOffset?: number;
  status?: ExperimentStatus;
  gpu?: string;
  parent?: string | null;
  timestamp?: number;
  /** prepare.py content id; default the stand-in workspace's. */
  prepareCid?: string;
}

let counter = 0;

/** A signed record by `publisher` for `code`, with its code bytes. */
export function makeRecord(
  publisher: KeyPair,
  spec: RecordSpec = {},
): { record: ExperimentRecord; code: Uint8Array } {
  counter++;
  const code = spec.code ?? `# experiment ${counter}\nprint("train")\n`;
  const bytes = new TextEncoder().encode(code);
  const payload: ExperimentPayload = {
    version: 1,
    parent: spec.parent ?? null,
    depth: 0,
    code_cid: sha256Hex(bytes),
    diff: "",
    dataset_cid: DATASET,
    prepare_cid: spec.prepareCid ?? PREPARE,
    time_budget: 300,
    val_bpb: trueBpb(code) + (spec.claimOffset ?? 0),
    peak_vram_mb: 1000.0,
    num_steps: 10,
    num_params: 1000,
    status: spec.status ?? "keep",
    description: `test ${counter}`,
    hypothesis: "",
    agent_model: "test",
    gpu_model: spec.gpu ?? "H100 80GB HBM3",
    cuda_version: "12.8",
    torch_version: "2.9.0",
    node_id: publisher.nodeId,
    timestamp: spec.timestamp ?? 1_773_000_000 + counter,
  };
  return { record: signRecord(payload, publisher.seed), code: bytes };
}

/** Sign an event as `signer`. */
export function signAs<E extends ControlEvent>(event: E, signer: KeyPair): E {
  return signControl(event, signer.seed, signer.nodeId);
}

/** Steps each {@link FakeTrainer} run reports as progress (loss 4/step). */
export const FAKE_STEPS = 4;

/**
 * Stand-in trainer: every run of a code gives {@link trueBpb} of it; counts runs and reports
 * {@link FAKE_STEPS} progress lines as the real runner does.
 */
export class FakeTrainer implements Trainer {
  runs = 0;
  /** When set, runs report a crash. */
  crash = false;
  constructor(readonly gpu: string = "H100 80GB HBM3", readonly gpuClass = "H100") {}
  environment() {
    return Promise.resolve({
      gpuModel: this.gpu,
      gpuClass: this.gpuClass,
      cudaVersion: "12.8",
      torchVersion: "2.9.0",
    });
  }
  workspaceIds() {
    return Promise.resolve({ datasetCid: DATASET, prepareCid: PREPARE });
  }
  baselineCode() {
    return Promise.resolve("print('baseline')\n");
  }
  /** When set, runs never finish on their own: only an abort ends them (a long rerun). */
  stall = false;
  run(
    code: string,
    opts?: { signal?: AbortSignal; onProgress?: (u: TrainProgressUpdate) => void },
  ): Promise<TrainOutcome> {
    this.runs++;
    opts?.onProgress?.({ phase: "starting", elapsedSeconds: 0 });
    for (let s = 1; s <= FAKE_STEPS && !this.crash; s++) {
      opts?.onProgress?.({
        phase: "training",
        elapsedSeconds: s,
        step: s,
        percent: (100 * s) / FAKE_STEPS,
        loss: 4 / s,
        remainingSeconds: FAKE_STEPS - s,
      });
    }
    if (this.stall) {
      return new Promise((resolve) => {
        const done = () => resolve({ ok: false, crashReason: "aborted" });
        if (opts?.signal?.aborted) done();
        opts?.signal?.addEventListener("abort", done, { once: true });
      });
    }
    if (this.crash) return Promise.resolve({ ok: false, crashReason: "exit 1" });
    return Promise.resolve({ ok: true, val_bpb: trueBpb(code) });
  }
}

/** Manual clock with timers that fire only when the test advances time. */
export class FakeClock implements Timers {
  #now = 1_773_000_000_000;
  #next = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  now = (): number => this.#now;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  /** Number of armed timers. */
  get armed(): number {
    return this.#timers.size;
  }
  /** Move time forward, firing due timers in deadline order. */
  advance(ms: number): void {
    this.#now += ms;
    const due = [...this.#timers.entries()]
      .filter(([, t]) => t.at <= this.#now)
      .sort((a, b) => a[1].at - b[1].at);
    for (const [id, t] of due) {
      this.#timers.delete(id);
      t.fn();
    }
  }
}

/** Options of one in-process node. */
export interface NodeSpec {
  gpu?: string;
  gpuClass?: string;
  spotCheckRate?: number;
  /** Challenge timeout in ms; default 1800 s. */
  timeoutMs?: number | undefined;
}

/** One in-process node: its own data dir, stores, trainer and verifier. */
export class TestNode {
  stores!: Stores;
  verifier!: Verifier;
  up = false;
  readonly trainer: FakeTrainer;
  readonly logs: string[] = [];
  /** The node's live run card, which its reruns report to (with the node's curve store). */
  runs!: LiveRuns;

  constructor(
    readonly bus: Bus,
    readonly key: KeyPair,
    readonly dir: string,
    readonly spec: NodeSpec,
  ) {
    this.trainer = new FakeTrainer(spec.gpu, spec.gpuClass);
  }

  get id(): string {
    return this.key.nodeId;
  }

  /** Open the stores and start the verifier (again, after {@link stop}). */
  async start(): Promise<void> {
    this.stores = openStores(this.dir);
    this.runs = new LiveRuns(this.stores.runs);
    this.verifier = Verifier.open(this.dir, {
      nodeId: this.key.nodeId,
      seed: this.key.seed,
      graph: this.stores.graph,
      reputation: this.stores.reputation,
      control: this.stores.control,
      trainer: this.trainer,
      fetchCode: (cid) => Promise.resolve(this.bus.artifacts.get(cid)),
      broadcast: (event) => this.bus.broadcast(this, event),
      spotCheckRate: this.spec.spotCheckRate ?? 0,
      challengeTimeoutMs: this.spec.timeoutMs ?? 1800_000,
      random: () => 0.5,
      now: this.bus.clock.now,
      timers: this.bus.clock,
      log: (level, m) => this.logs.push(`${level}: ${m}`),
      runs: this.runs,
    });
    this.up = true;
    await this.verifier.start();
  }

  /** Stop the verifier and close the stores; the data dir stays. */
  async stop(): Promise<void> {
    this.up = false;
    await this.verifier.close();
    this.stores.close();
  }
}

/** In-memory network: queued event delivery to every up node, records and shared artifacts. */
export class Bus {
  readonly nodes: TestNode[] = [];
  readonly artifacts = new Map<string, Uint8Array>();
  readonly clock = new FakeClock();
  readonly #queue: { to: TestNode; event: ControlEvent; from: string }[] = [];
  readonly #root: string;

  private constructor(root: string) {
    this.#root = root;
  }

  /** A bus over a fresh temp dir; {@link close} removes it. */
  static async create(): Promise<Bus> {
    return new Bus(await Deno.makeTempDir({ prefix: "spore-verify-test-" }));
  }

  /** Add and start a node with key number `index`. */
  async addNode(index: number, spec: NodeSpec = {}): Promise<TestNode> {
    const node = new TestNode(this, key(index), `${this.#root}/node${index}`, spec);
    this.nodes.push(node);
    await node.start();
    return node;
  }

  /** Queue `event` for every up node except the sender. */
  broadcast(from: TestNode | null, event: ControlEvent): void {
    for (const n of this.nodes) {
      if (n !== from && n.up) this.#queue.push({ to: n, event, from: from?.id ?? "rogue" });
    }
  }

  /**
   * Store a record on every up node (as gossip would) and tell each verifier; the publisher
   * sees it as local. With `quiet`, verifiers are not told (as if synced before they started).
   */
  publish(rec: { record: ExperimentRecord; code: Uint8Array }, quiet = false): void {
    this.artifacts.set(rec.record.code_cid, rec.code);
    for (const n of this.nodes) {
      if (!n.up) continue;
      n.stores.graph.insert(rec.record);
      if (!quiet) n.verifier.onRecord(rec.record, rec.record.node_id === n.id ? "local" : "peer");
    }
  }

  /**
   * Deliver queued events until nothing is queued or in flight anywhere (not waiting for the
   * nodes in `busy`, whose reruns stall).
   */
  async settle(busy: readonly TestNode[] = []): Promise<void> {
    for (;;) {
      while (this.#queue.length > 0) {
        const { to, event, from } = this.#queue.shift()!;
        if (!to.up) continue;
        const peer: PeerInfo = {
          address: `mem:${from.slice(0, 8)}`,
          nodeId: from,
          inbound: true,
          connectedAt: 0,
        };
        await to.verifier.onControl(event, peer);
      }
      const waitFor = this.nodes.filter((n) => n.up && !busy.includes(n));
      await Promise.all(waitFor.map((n) => n.verifier.idle()));
      if (this.#queue.length === 0) return;
    }
  }

  /** What a sync would do for `node`: every record and control event the other up nodes hold. */
  async syncTo(node: TestNode): Promise<void> {
    for (const other of this.nodes) {
      if (other === node || !other.up) continue;
      for (const { record } of other.stores.graph.afterSeq(0, 10_000)) {
        if (node.stores.graph.insert(record)) node.verifier.onRecord(record, "peer");
      }
      for (const e of other.stores.control.afterSeq(0, 10_000)) {
        this.#queue.push({
          to: node,
          event: { type: e.type, payload: e.payload } as ControlEvent,
          from: other.id,
        });
      }
    }
    await this.settle();
  }

  /** Stop every node and remove the temp dir. */
  async close(): Promise<void> {
    for (const n of this.nodes) if (n.up) await n.stop();
    await Deno.remove(this.#root, { recursive: true });
  }
}

/**
 * A bus with nodes 0..n-1 on H100, where `checkers` spot-check everything, and one earlier
 * record each, pre-synced.
 */
export async function network(
  n: number,
  checkers: number[] = [1],
  timeoutMs?: number,
): Promise<{ bus: Bus; nodes: TestNode[] }> {
  const bus = await Bus.create();
  const nodes: TestNode[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push(await bus.addNode(i, { spotCheckRate: checkers.includes(i) ? 1 : 0, timeoutMs }));
  }
  for (let i = 0; i < n; i++) bus.publish(makeRecord(key(i)), true);
  return { bus, nodes };
}

/** Every node's view of the given nodes' reputation rows. */
export function ledgerViews(nodes: readonly TestNode[], of: readonly string[]) {
  return nodes.map((n) => of.map((id) => n.stores.reputation.get(id)));
}
