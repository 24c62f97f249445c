/**
 * The node's persistent state: experiment graph, reputation ledger, profiles, control-event log
 * and artifact files, all below one data dir (PROTOCOL.md section 9).
 * @module
 */
import { join } from "node:path";
import { existsSync } from "node:fs";
import { ArtifactStore } from "./artifact.ts";
import { ControlLog } from "./control_log.ts";
import { type GraphOpenOptions, GraphStore } from "./graph.ts";
import { ProfileStore } from "./profile.ts";
import { ReputationStore } from "./reputation.ts";
import { RunCurveStore } from "./run_curve.ts";

export { StoreError } from "./errors.ts";
export {
  type ClassSummary,
  type GraphOpenOptions,
  type GraphStats,
  GraphStore,
  MAX_CLASSES,
  type ProgressDetail,
  type ProgressRow,
  PYTHON_EXPERIMENT_DDL,
  type SeqRecord,
} from "./graph.ts";
export {
  type ReputationDelta,
  type ReputationRow,
  ReputationStore,
  SCORE_MAX,
  SCORE_MIN,
} from "./reputation.ts";
export { ProfileStore, type SeqProfile } from "./profile.ts";
export { ControlLog, type LoggedControl, MAX_CONTROL_PAYLOAD } from "./control_log.ts";
export { ArtifactStore, isCid } from "./artifact.ts";
export {
  inTransaction,
  openStore,
  openWithSchema,
  prepareAll,
  SqliteStore,
  type Statements,
} from "./sqlite.ts";
export { type CurvePoint, MAX_CURVE_POINTS, RunCurveStore } from "./run_curve.ts";

/** Every store of one data dir. */
export interface Stores {
  graph: GraphStore;
  reputation: ReputationStore;
  profiles: ProfileStore;
  control: ControlLog;
  artifacts: ArtifactStore;
  /** Loss curves of this node's own runs (local, never synced). */
  runs: RunCurveStore;
  /** Close every database. */
  close(): void;
}

/**
 * What a data dir's graph says about a prepare.py: the `dataset_cid`s its records carry, most
 * common first; nothing when there is no graph yet (none is created).
 */
export function readDatasetsOfPrepare(
  dataDir: string,
  prepareCid: string,
): { datasetCid: string; count: number }[] {
  const path = storePaths(dataDir).graph;
  if (!existsSync(path)) return [];
  const graph = GraphStore.open(path, { backgroundCheckpoint: false });
  try {
    return graph.datasetsOfPrepare(prepareCid);
  } finally {
    graph.close();
  }
}

/** Where each store lives below a data dir. */
export function storePaths(dataDir: string): {
  graph: string;
  reputation: string;
  profiles: string;
  control: string;
  runs: string;
  artifacts: string;
} {
  return {
    graph: join(dataDir, "db", "graph.sqlite"),
    reputation: join(dataDir, "db", "reputation.sqlite"),
    profiles: join(dataDir, "db", "profile.sqlite"),
    control: join(dataDir, "db", "control.sqlite"),
    runs: join(dataDir, "db", "run.sqlite"),
    artifacts: join(dataDir, "artifact"),
  };
}

/**
 * Open (creating as needed) every store of `dataDir`; `graphOptions` go to the graph store.
 * @throws StoreError naming the first file that cannot be used; stores already opened are
 * closed again.
 */
export function openStores(dataDir: string, graphOptions: GraphOpenOptions = {}): Stores {
  const paths = storePaths(dataDir);
  const opened: { close(): void }[] = [];
  const track = <T extends { close(): void }>(s: T): T => {
    opened.push(s);
    return s;
  };
  try {
    const graph = track(GraphStore.open(paths.graph, graphOptions));
    const reputation = track(ReputationStore.open(paths.reputation));
    const profiles = track(ProfileStore.open(paths.profiles));
    const control = track(ControlLog.open(paths.control));
    const runs = track(RunCurveStore.open(paths.runs));
    return {
      graph,
      reputation,
      profiles,
      control,
      runs,
      artifacts: new ArtifactStore(paths.artifacts),
      close() {
        for (const s of opened) s.close();
      },
    };
  } catch (err) {
    for (const s of opened) s.close();
    throw err;
  }
}
