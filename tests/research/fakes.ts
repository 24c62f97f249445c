/** Test doubles for the loop: a node over real stores, and a deterministic trainer. */
import type { NodeHandle, PeerInfo, Trainer, TrainOutcome } from "../../src/node_types.ts";
import type { ExperimentRecord } from "../../src/protocol/types.ts";
import { validateRecord } from "../../src/protocol/record.ts";
import { openStores, type Stores } from "../../src/store/mod.ts";
import { BASELINE } from "./fixtures.ts";

/** A NodeHandle over real stores in a temp dir; publish validates, stores and remembers. */
export class FakeNode implements NodeHandle {
  readonly nodeId = "f".repeat(64);
  readonly stores: Stores;
  readonly published: { record: ExperimentRecord; code?: Uint8Array | undefined }[] = [];
  readonly events = { on: () => () => {} };
  /** Artifacts "held by peers": fetchArtifact falls back to these. */
  readonly remote = new Map<string, Uint8Array>();
  fetchDelayMs = 0;
  /** Live peers `peers()` reports. */
  peerList: PeerInfo[] = [];

  constructor(dir: string) {
    this.stores = openStores(dir);
  }

  peers(): PeerInfo[] {
    return this.peerList;
  }

  async fetchArtifact(cid: string): Promise<Uint8Array | undefined> {
    const local = await this.stores.artifacts.get(cid);
    if (local) return local;
    if (this.fetchDelayMs) await new Promise((r) => setTimeout(r, this.fetchDelayMs));
    return this.remote.get(cid);
  }

  async publish(record: ExperimentRecord, code?: Uint8Array): Promise<void> {
    const v = await validateRecord(record);
    if (!v.ok) throw new Error(`invalid record: ${v.reason}`);
    if (code) await this.stores.artifacts.put(code);
    this.stores.graph.insert(record);
    this.published.push({ record, code });
  }

  close(): void {
    this.stores.close();
  }
}

/**
 * A trainer whose val_bpb is a pure function of the code: 1.0 minus 0.01 per line containing
 * `# better`, plus 0.01 per `# worse`; code containing `CRASH_ME` crashes.
 */
export class FakeTrainer implements Trainer {
  readonly runs: string[] = [];
  gpu = "cpu";
  baseline = BASELINE;

  environment() {
    return Promise.resolve({
      gpuModel: this.gpu,
      gpuClass: this.gpu.toUpperCase(),
      cudaVersion: "",
      torchVersion: "1.13.1",
    });
  }

  workspaceIds() {
    return Promise.resolve({ datasetCid: "d".repeat(64), prepareCid: "e".repeat(64) });
  }

  baselineCode() {
    return Promise.resolve(this.baseline);
  }

  /** The val_bpb `run` reports for `code` (undefined for a crash). */
  static score(code: string): number | undefined {
    if (code.includes("CRASH_ME")) return undefined;
    const better = code.match(/# better/g)?.length ?? 0;
    const worse = code.match(/# worse/g)?.length ?? 0;
    // Hyperparameter values feed in too, so mutator runs get distinct, repeatable scores.
    let h = 0;
    for (const m of code.matchAll(/^[A-Z_]+ = ([^#\n]+)/gm)) {
      for (const ch of m[1]!) h = (h * 31 + ch.charCodeAt(0)) % 1000;
    }
    return Number((1 - 0.01 * better + 0.01 * worse + h / 1e6).toFixed(6));
  }

  run(code: string): Promise<TrainOutcome> {
    this.runs.push(code);
    if (code.includes("TOO_SLOW")) {
      return Promise.resolve({
        ok: false,
        crashReason: "host too slow: stopped after 600s",
        hostSlow: true,
      });
    }
    const v = FakeTrainer.score(code);
    if (v === undefined) {
      return Promise.resolve({ ok: false, crashReason: "exit code 1: RuntimeError" });
    }
    return Promise.resolve({
      ok: true,
      val_bpb: v,
      peak_vram_mb: 0,
      num_steps: 150,
      num_params: 1_000_000,
      training_seconds: 1.5,
    });
  }
}
