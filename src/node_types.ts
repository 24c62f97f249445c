/**
 * The running node as other parts see it (explorer, CLI, research loop): its stores, identity,
 * live events and network operations. Implemented by `src/node.ts`; tests may implement it
 * with fakes.
 * @module
 */
import type { ControlEvent, ExperimentRecord, NodeProfile } from "./protocol/types.ts";
import type { Stores } from "./store/mod.ts";
import type { NetworkStatus } from "./net/alone.ts";
import type { LiveRuns } from "./research/live_run.ts";

/** Why a dial failed, in a small fixed set (safe as a metric label or a status field). */
export type DialErrorKind = "dns" | "refused" | "timeout" | "unreachable" | "other";

/** Something that happened on the node, pushed to live views. */
export type NodeEvent =
  | { kind: "experiment"; record: ExperimentRecord; source: "local" | "peer" }
  | { kind: "profile"; profile: NodeProfile }
  | { kind: "control"; event: ControlEvent }
  | {
    kind: "peer";
    state: "up" | "down";
    address: string;
    nodeId?: string | undefined;
    /** Why the connection ended or the dial failed (`down` only). */
    reason?: string;
    /** Set when `down` means a dial that never connected: how it failed. */
    dialError?: DialErrorKind;
  };

/** Subscribe to node events; returns the unsubscribe function. */
export interface NodeEventSource {
  on(listener: (event: NodeEvent) => void): () => void;
}

/**
 * Receives every new control event the network accepted, from a peer (`from`) or from sync
 * (`null`). The verifier implements it; the node fans events out to every handler added with
 * `SporeNode.onControl`.
 */
export interface ControlHandler {
  onControl(event: ControlEvent, from: PeerInfo | null): Promise<void>;
}

/** A live-connected peer. */
export interface PeerInfo {
  address: string;
  nodeId?: string | undefined;
  agent?: string | undefined;
  inbound: boolean;
  connectedAt: number;
}

/** The node's surface for the explorer, CLI and research loop. */
export interface NodeHandle {
  readonly nodeId: string;
  readonly stores: Stores;
  readonly events: NodeEventSource;
  /** Live-connected peers. */
  peers(): PeerInfo[];
  /**
   * Why there are (no) peers: addresses being dialed and the last dial error per address
   * (absent where the handle has no network of its own, e.g. an explorer reading a data dir).
   */
  networkStatus?(): NetworkStatus;
  /** Fetch a code artifact from the local store, else from peers (hash-checked). */
  fetchArtifact(cid: string): Promise<Uint8Array | undefined>;
  /** Store and gossip a record this node created (already signed). */
  publish(record: ExperimentRecord, code?: Uint8Array): Promise<void>;
  /** What this node is training now (absent on handles that never train, e.g. a bench). */
  readonly runs?: LiveRuns;
}

/** One progress line or phase change of a training run, for live views. */
export interface TrainProgressUpdate {
  phase: "starting" | "training" | "evaluating" | "done";
  elapsedSeconds: number;
  step?: number | undefined;
  /** 0..100 */
  percent?: number | undefined;
  loss?: number | undefined;
  remainingSeconds?: number | undefined;
}

/** Outcome of one sandboxed training run, as research and verification consume it. */
export interface TrainOutcome {
  /** True when the run finished and printed a parsable val_bpb. */
  ok: boolean;
  val_bpb?: number;
  peak_vram_mb?: number;
  num_steps?: number;
  num_params?: number;
  training_seconds?: number;
  /** Why the run counts as a crash (exit code, signal, timeout, missing val_bpb...). */
  crashReason?: string;
  /**
   * The run was stopped because this machine is too slow for it (a step-bound CPU run past its
   * pace limit): not a result about the code, so it is neither published nor judged.
   */
  hostSlow?: boolean | undefined;
}

/** The hardware/software identity that goes into a record. */
export interface TrainEnvironment {
  /**
   * `gpu_model` of our records: the device name normalized as the Python node writes it
   * (PROTOCOL.md section 11), e.g. "RTX_3060", "NVIDIA_H100_80GB_HBM3", "APPLE_MPS", "CPU".
   */
  gpuModel: string;
  /** Class for comparisons (section 7); the same normalization, so equal to `gpuModel`. */
  gpuClass: string;
  /** The CUDA version, or "mps" / "cpu" as the Python node writes it. */
  cudaVersion: string;
  torchVersion: string;
}

/**
 * Runs `train.py` code under the node's single training lock, sandboxed, in a fresh copy of the
 * workspace. Implemented over `src/training/`; research and verification take it injected so
 * their tests can use a deterministic stand-in.
 */
export interface Trainer {
  environment(): Promise<TrainEnvironment>;
  /** `dataset_cid` and `prepare_cid` of the prepared workspace. */
  workspaceIds(): Promise<{ datasetCid: string; prepareCid: string }>;
  /** The workspace's baseline train.py. */
  baselineCode(): Promise<string>;
  run(
    code: string,
    opts?: {
      label?: string;
      signal?: AbortSignal | undefined;
      onProgress?: ((update: TrainProgressUpdate) => void) | undefined;
    },
  ): Promise<TrainOutcome>;
}
