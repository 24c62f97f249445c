/**
 * Fixtures for the explorer tests: a NodeHandle over real stores in a temp dir (peers and
 * artifact fetching faked in memory), signed synthetic records and profiles, and a seeded graph.
 */
import {
  type ExperimentPayload,
  type ExperimentRecord,
  type ExperimentStatus,
  keyPairFromSeed,
  type NodeProfile,
  signProfile,
  signRecord,
} from "../../src/protocol/mod.ts";
import { openStores, type Stores } from "../../src/store/mod.ts";
import type { NodeEvent, NodeHandle, PeerInfo } from "../../src/node_types.ts";

/** Fixed test seeds (not the vector file: these tests only need valid signatures). */
export const SEEDS: Uint8Array[] = [1, 2, 3, 4].map((b) => new Uint8Array(32).fill(b));
/** Node ids of {@link SEEDS}. */
export const NODE_IDS: string[] = SEEDS.map((s) => keyPairFromSeed(s).nodeId);

/** Fields a test may set on a synthetic record. */
export interface RecordSpec {
  parent?: ExperimentRecord | null;
  status?: ExperimentStatus;
  val_bpb?: number;
  gpu_model?: string;
  timestamp?: number;
  description?: string;
  hypothesis?: string;
  diff?: string;
  code_cid?: string;
  key?: number;
  dataset_cid?: string;
  prepare_cid?: string;
}

let counter = 0;

/** A signed record; each call differs. Depth follows the parent. */
export function makeRecord(spec: RecordSpec = {}): ExperimentRecord {
  const key = spec.key ?? 0;
  counter++;
  const payload: ExperimentPayload = {
    version: 1,
    parent: spec.parent ? spec.parent.id : null,
    depth: spec.parent ? spec.parent.depth + 1 : 0,
    code_cid: spec.code_cid ?? "0".repeat(64),
    diff: spec.diff ?? "",
    dataset_cid: spec.dataset_cid ?? "climbmix-400b-shuffle",
    prepare_cid: spec.prepare_cid ?? "ab".repeat(32),
    time_budget: 300,
    val_bpb: spec.val_bpb ?? 1.0,
    peak_vram_mb: 1024.5,
    num_steps: 10,
    num_params: 1000,
    status: spec.status ?? "keep",
    description: spec.description ?? `synthetic ${counter}`,
    hypothesis: spec.hypothesis ?? "",
    agent_model: "test",
    gpu_model: spec.gpu_model ?? "NVIDIA H100 80GB HBM3",
    cuda_version: "12.8",
    torch_version: "2.9.0",
    node_id: NODE_IDS[key]!,
    timestamp: spec.timestamp ?? 1_773_000_000 + counter,
  };
  return signRecord(payload, SEEDS[key]!);
}

/** A signed profile for test key `key`. */
export function makeProfile(
  key: number,
  displayName: string,
  timestamp = 1_773_000_000,
): NodeProfile {
  return signProfile({
    node_id: NODE_IDS[key]!,
    display_name: displayName,
    bio: "bio of " + displayName,
    website: "https://example.org/" + key,
    avatar_url: "",
    donation_address: "bc1qexample" + key,
    timestamp,
    schema_version: 1,
  }, SEEDS[key]!);
}

/** A NodeHandle over real stores; peers and remote artifacts are in-memory stand-ins. */
export class FakeNode implements NodeHandle {
  readonly nodeId: string = NODE_IDS[0]!;
  readonly stores: Stores;
  /** Artifacts "held by peers": fetchArtifact falls back to these, as the real node asks peers. */
  readonly remoteArtifacts = new Map<string, Uint8Array>();
  peerList: PeerInfo[] = [];
  readonly #listeners = new Set<(e: NodeEvent) => void>();

  readonly events = {
    on: (listener: (e: NodeEvent) => void): () => void => {
      this.#listeners.add(listener);
      return () => this.#listeners.delete(listener);
    },
  };

  constructor(stores: Stores) {
    this.stores = stores;
  }

  /** Number of event listeners (to check the hub unsubscribes). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  peers(): PeerInfo[] {
    return this.peerList;
  }

  async fetchArtifact(cid: string): Promise<Uint8Array | undefined> {
    const local = await this.stores.artifacts.get(cid);
    if (local) return local;
    const remote = this.remoteArtifacts.get(cid);
    if (remote && await this.stores.artifacts.putVerified(cid, remote)) return remote;
    return undefined;
  }

  async publish(record: ExperimentRecord, code?: Uint8Array): Promise<void> {
    if (code) await this.stores.artifacts.put(code);
    if (this.stores.graph.insert(record)) {
      this.emit({ kind: "experiment", record, source: "local" });
    }
  }

  /** Store a record as if a peer gossiped it, and tell listeners. */
  receive(record: ExperimentRecord): void {
    if (this.stores.graph.insert(record)) this.emit({ kind: "experiment", record, source: "peer" });
  }

  emit(event: NodeEvent): void {
    for (const l of this.#listeners) l(event);
  }
}

/** Run `fn` with a FakeNode over fresh stores in a temp dir; everything is removed afterwards. */
export async function withNode(
  fn: (node: FakeNode, dir: string) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spore-explorer-test-" });
  const stores = openStores(dir);
  try {
    await fn(new FakeNode(stores), dir);
  } finally {
    stores.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The seeded graph the API and browser tests share, with the ids they check. */
export interface SeededGraph {
  root: ExperimentRecord;
  /** Chain root -> a1 -> a2 (a2 best on H100). */
  a1: ExperimentRecord;
  a2: ExperimentRecord;
  /** Sibling of a1 with a worse result (discard). */
  b1: ExperimentRecord;
  /** A crash child of a1. */
  c1: ExperimentRecord;
  /** Separate lineage on an RTX 4090 (frontier of its class). */
  rtx: ExperimentRecord;
  /** Frontier ids, val_bpb ascending. */
  frontier: string[];
  all: ExperimentRecord[];
  code: Uint8Array;
}

/** Seed a small graph with profiles, reputation, a verification and a code artifact. */
export async function seedGraph(node: FakeNode): Promise<SeededGraph> {
  const code = new TextEncoder().encode("import torch\nprint('train')\n");
  const codeCid = await node.stores.artifacts.put(code);
  const t = 1_773_100_000;
  const root = makeRecord({
    val_bpb: 1.1,
    description: "baseline",
    timestamp: t,
    key: 0,
    code_cid: codeCid,
  });
  const a1 = makeRecord({
    parent: root,
    val_bpb: 1.05,
    description: "raise learning rate",
    hypothesis: "a higher LR converges faster",
    diff: "--- a/train.py\n+++ b/train.py\n@@ -1,3 +1,3 @@\n-lr = 0.01\n+lr = 0.02\n keep = 1\n",
    timestamp: t + 10,
    key: 1,
    code_cid: codeCid,
  });
  const a2 = makeRecord({
    parent: a1,
    val_bpb: 0.98,
    description: "wider MLP <b>bold</b>",
    diff: "--- a/train.py\n+++ b/train.py\n@@ -5 +5 @@\n-hidden = 512\n+hidden = 1024\n",
    timestamp: t + 20,
    key: 1,
  });
  const b1 = makeRecord({
    parent: root,
    val_bpb: 1.2,
    status: "discard",
    description: "smaller batch",
    timestamp: t + 30,
    key: 2,
  });
  const c1 = makeRecord({
    parent: a1,
    val_bpb: 0,
    status: "crash",
    description: "bad init",
    timestamp: t + 40,
    key: 2,
  });
  const rtx = makeRecord({
    val_bpb: 1.3,
    description: "4090 baseline",
    gpu_model: "RTX 4090",
    timestamp: t + 50,
    key: 3,
  });
  const all = [root, a1, a2, b1, c1, rtx];
  node.stores.graph.insertMany(all);
  node.stores.profiles.upsert(makeProfile(1, "Alice <script>x</script>"));
  node.stores.profiles.upsert(makeProfile(2, "Bob"));
  node.stores.reputation.applyEvent(`verification:${a1.id}:${NODE_IDS[2]}`, "verification", [
    { nodeId: NODE_IDS[1]!, score: 1, experiments_verified: 1 },
    { nodeId: NODE_IDS[2]!, score: 0.5, verifications_performed: 1 },
  ]);
  node.stores.graph.markVerified(a1.id);
  node.stores.control.append("verification", {
    event_id: `verification:${a1.id}:${NODE_IDS[2]}`,
    experiment_id: a1.id,
    verified_node_id: NODE_IDS[1],
    verifier_id: NODE_IDS[2],
    verifier_gpu: "H100",
    verifier_bpb: 1.0505,
    is_frontier: false,
  });
  return { root, a1, a2, b1, c1, rtx, frontier: [a2.id, rtx.id], all, code };
}
