/**
 * `--workspace DIR`, `--dataset-cid NAME` and `--data-cache DIR` (and their config.toml keys), shared
 * by `spore run`, `spore train` and `spore doctor`: which research workspace, hence which research
 * class, the node trains in.
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { configPath, type SporeConfig } from "../config.ts";
import { type GraphStore, readDatasetsOfPrepare } from "../store/mod.ts";
import { TrainingSetupError } from "../training/errors.ts";
import {
  dataCacheDir,
  inspectWorkspace,
  type ResolvedWorkspace,
  resolveWorkspace,
} from "../training/research_workspace.ts";
import { UserError } from "./errors.ts";
import { shortId } from "./output.ts";

/** The parsed options. */
export interface WorkspaceOptions {
  workspace?: string | undefined;
  datasetCid?: string;
  dataCache?: string | undefined;
}

/** Add the three options to `cmd`. */
export function withWorkspaceOptions(cmd: Command): Command {
  return cmd
    .option(
      "--workspace <dir>",
      "research workspace with prepare.py and train.py, e.g. an autoresearch checkout " +
        "(default: config `workspace`, else the embedded one)",
    )
    .option(
      "--dataset-cid <name>",
      "dataset_cid of that workspace's data (default: config, else what the graph's records " +
        "with its prepare.py carry)",
    )
    .option(
      "--data-cache <dir>",
      "where that workspace's prepared data is (default: where its prepare.py looks, e.g. " +
        "~/.cache/autoresearch)",
    );
}

/** The workspace dir from the flag or config, or undefined for the embedded workspace. */
export function workspaceDirOf(opts: WorkspaceOptions, config: SporeConfig): string | undefined {
  return opts.workspace !== undefined
    ? resolve(opts.workspace)
    : configPath(config.workspace, config.data_dir);
}

/**
 * Resolve `--workspace` (or config `workspace`): undefined without one. `graph` answers the
 * dataset question when neither flag nor config does; by default the data dir's graph is read
 * (not created) for it.
 * @throws UserError saying what is wrong and how to fix it.
 */
export async function resolveWorkspaceOption(
  opts: WorkspaceOptions,
  config: SporeConfig,
  dataDir: string,
  graph?: Pick<GraphStore, "datasetsOfPrepare">,
): Promise<ResolvedWorkspace | undefined> {
  const dir = workspaceDirOf(opts, config);
  if (dir === undefined) {
    if (opts.datasetCid !== undefined || opts.dataCache !== undefined) {
      throw new UserError("--dataset-cid and --data-cache need --workspace DIR");
    }
    return undefined;
  }
  try {
    return await resolveWorkspace({
      dir,
      datasetCid: opts.datasetCid,
      configDatasetCid: config.dataset_cid,
      dataCache: opts.dataCache ?? configPath(config.data_cache, config.data_dir),
      graphDatasets: (prepareCid) =>
        graph ? graph.datasetsOfPrepare(prepareCid) : readDatasetsOfPrepare(dataDir, prepareCid),
    });
  } catch (e) {
    if (e instanceof TrainingSetupError) throw new UserError(e.message);
    throw e;
  }
}

/** The value of `--name X` or `--name=X` in a raw argument list (the last one wins). */
function flagValue(args: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  args.forEach((a, i) => {
    if (a === name && i + 1 < args.length) out = args[i + 1];
    else if (a.startsWith(`${name}=`)) out = a.slice(name.length + 1);
  });
  return out;
}

/**
 * What a node started with these `spore run` arguments reads outside its data dir: the
 * workspace and its data cache (a `spore start` child from a checkout runs with narrow read
 * permissions and needs them named). Best effort: a workspace that cannot be read here is
 * reported by the node itself.
 */
export async function workspaceReadPaths(
  runArgs: readonly string[],
  config: SporeConfig,
): Promise<string[]> {
  const opts: WorkspaceOptions = {
    workspace: flagValue(runArgs, "--workspace"),
    dataCache: flagValue(runArgs, "--data-cache"),
  };
  const dir = workspaceDirOf(opts, config);
  if (dir === undefined) return [];
  const cache = opts.dataCache !== undefined
    ? resolve(opts.dataCache)
    : configPath(config.data_cache, config.data_dir) ??
      await inspectWorkspace(dir).then((l) => dataCacheDir(l), () => undefined);
  return cache === undefined ? [dir] : [dir, cache];
}

/** One line describing a resolved workspace, for banners and `spore train`. */
export function describeWorkspace(ws: ResolvedWorkspace): string {
  const cls = ws.embedded
    ? "embedded prepare.py"
    : `dataset ${ws.researchClass.datasetCid} (from ${ws.datasetSource}), prepare ${
      shortId(ws.prepareCid)
    }`;
  const data = ws.dataCache ? `, data ${ws.dataCache} -> ~/${ws.homeCache}` : "";
  return `${ws.dir} (${cls}${data})`;
}
