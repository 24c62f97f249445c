/**
 * Workspaces given with `--workspace DIR` (or config `workspace`): a directory with `prepare.py`
 * and `train.py` (`batching.py` optional), such as karpathy's autoresearch checkout the Python
 * network researches in. Its research class (PROTOCOL.md section 7) is `prepare_cid` = sha256 of
 * `DIR/prepare.py` and a `dataset_cid` the user names or the graph tells us.
 *
 * A workspace whose prepare.py is byte-identical to the embedded one prepares its own data as the
 * embedded workspace does. Any other ("foreign") prepare.py is never run by the node: preparing
 * data downloads, and that stays the user's step outside the sandbox; the node only checks that
 * the prepared data is where the script looks for it.
 * @module
 */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import {
  datasetCidProblem,
  type NamedClass,
  type ResearchClass,
  sha256Hex,
  shortId,
} from "../protocol/mod.ts";
import { TrainingSetupError } from "./errors.ts";
import { readHyperparams } from "../research/hyperparams.ts";
import { readWorkspaceFile } from "./workspace.ts";
import { isPlainRelPath } from "./sandbox.ts";

/** A prepare.py or train.py larger than this is not one. */
export const MAX_WORKSPACE_FILE_BYTES = 1 << 20;

/**
 * `dataset_cid` of the embedded prepare.py's default (synthetic) corpus: `python3 prepare.py
 * --cid` prints it (a test keeps the two equal), but generating the corpus to learn it takes
 * seconds, too slow for naming a class in `spore status`.
 */
export const SYNTHETIC_DATASET_CID =
  "22216658cfe74c3dd1d03976e8ce7fa30816428d1ae494f5b62b74a5148b573b";

/** Readable name of the embedded class with its default data. */
export const EMBEDDED_CLASS_NAME = "spore-synthetic";

/** What `inspectWorkspace` learns from the files, without running any of them. */
export interface WorkspaceLayout {
  /** Absolute path. */
  dir: string;
  /** sha256 of DIR/prepare.py. */
  prepareCid: string;
  /** prepare.py is the embedded one: it prepares its own data and names its own dataset. */
  embedded: boolean;
  /** prepare.py's TIME_BUDGET (seconds), else 300 (the network's budget). */
  timeBudget: number;
  hasBatching: boolean;
  /**
   * Where under the user's home prepare.py reads prepared data (autoresearch:
   * `.cache/autoresearch`); undefined when it reads none there.
   */
  homeCache?: string | undefined;
}

/** A workspace resolved for research: its layout, class, and the host dir of its data cache. */
export interface ResolvedWorkspace extends WorkspaceLayout {
  researchClass: ResearchClass;
  /** Where the class's `dataset_cid` came from. */
  datasetSource: "flag" | "config" | "graph" | "prepare.py";
  /** Host directory bound read-only at `~/<homeCache>` inside the sandbox. */
  dataCache?: string | undefined;
}

/**
 * The directory under the home that `prepare.py` reads, from the ways Python scripts spell it:
 * `os.path.join(os.path.expanduser("~"), ".cache", "x")`, `os.path.expanduser("~/.cache/x")`,
 * `Path.home() / ".cache" / "x"`. Undefined when none (the home itself never counts).
 */
export function homeCacheOf(prepareSource: string): string | undefined {
  const ref =
    /(?:os\.path\.expanduser\(\s*(["'])~([^"'\n]*)\1\s*\)|Path\.home\(\s*\))((?:\s*[,/]\s*(["'])[^"'\n]+\4)*)/g;
  for (const m of prepareSource.matchAll(ref)) {
    // The inner pattern's group 2 is not optional: each of its matches sets it.
    const parts = [
      ...(m[2] ?? "").split("/"),
      ...[...(m[3] ?? "").matchAll(/(["'])([^"'\n]+)\1/g)].flatMap((p) => p[2]!.split("/")),
    ].filter((p) => p !== "");
    if (parts.length > 0 && isPlainRelPath(parts.join("/"))) return parts.join("/");
  }
  return undefined;
}

async function readBounded(path: string, what: string): Promise<Uint8Array> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotCapable
      ? "the node has no read permission there (run the binary, or `deno task spore`)"
      : (e as Error).message;
    throw new TrainingSetupError("workspace_missing", `cannot read ${what} ${path}: ${why}`);
  }
  if (!info.isFile) throw new TrainingSetupError("workspace_missing", `${path} is not a file`);
  if (info.size > MAX_WORKSPACE_FILE_BYTES) {
    throw new TrainingSetupError(
      "workspace_missing",
      `${path} is ${info.size} bytes; a ${what} must be under 1 MiB`,
    );
  }
  return await Deno.readFile(path);
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** sha256 of the embedded prepare.py. */
export async function embeddedPrepareCid(): Promise<string> {
  return sha256Hex(await readWorkspaceFile("prepare.py"));
}

/** Classes with readable names: the embedded prepare.py's (synthetic data, then any data). */
export async function embeddedClasses(): Promise<NamedClass[]> {
  const prepareCid = await embeddedPrepareCid();
  return [
    { name: EMBEDDED_CLASS_NAME, prepareCid, datasetCid: SYNTHETIC_DATASET_CID },
    { name: "spore-embedded", prepareCid },
  ];
}

/**
 * Read a workspace's files (nothing is run). Throws `TrainingSetupError("workspace_missing")`
 * naming the missing file.
 */
export async function inspectWorkspace(dir: string): Promise<WorkspaceLayout> {
  const abs = resolve(dir);
  const prepare = await readBounded(join(abs, "prepare.py"), "prepare.py");
  await readBounded(join(abs, "train.py"), "train.py");
  const prepareCid = sha256Hex(prepare);
  const source = new TextDecoder().decode(prepare);
  const budget = readHyperparams(source, {}).get("TIME_BUDGET")?.value;
  return {
    dir: abs,
    prepareCid,
    embedded: prepareCid === await embeddedPrepareCid(),
    timeBudget: budget !== undefined && Number.isInteger(budget) && budget > 0 && budget <= 86_400
      ? budget
      : 300,
    hasBatching: await exists(join(abs, "batching.py")),
    homeCache: homeCacheOf(source),
  };
}

/** Where a workspace's `dataset_cid` comes from, in order. */
export interface DatasetSources {
  /** `--dataset-cid`. */
  flag?: string | undefined;
  /** config.toml `dataset_cid`. */
  config?: string | undefined;
  /** What the graph's records with this prepare_cid carry, most common first. */
  graph: readonly { datasetCid: string; count: number }[];
}

/**
 * The `dataset_cid` of a foreign workspace: the flag, else the config, else the value most
 * records with its prepare_cid carry in our graph. Throws `TrainingSetupError("class_unknown")`
 * saying how to set it.
 */
export function resolveDatasetCid(
  layout: Pick<WorkspaceLayout, "dir" | "prepareCid">,
  src: DatasetSources,
): { datasetCid: string; source: "flag" | "config" | "graph" } {
  for (const source of ["flag", "config"] as const) {
    const v = src[source];
    if (v === undefined) continue;
    const problem = datasetCidProblem(v);
    if (problem) {
      const where = source === "flag" ? "--dataset-cid" : 'config.toml "dataset_cid"';
      throw new TrainingSetupError("class_unknown", `${where} ${problem}`);
    }
    return { datasetCid: v, source };
  }
  const top = src.graph.find((g) => datasetCidProblem(g.datasetCid) === null);
  if (top) return { datasetCid: top.datasetCid, source: "graph" };
  throw new TrainingSetupError(
    "class_unknown",
    `the workspace ${layout.dir} has its own prepare.py (prepare_cid ` +
      `${shortId(layout.prepareCid)}), and no record in the graph names its dataset yet. ` +
      "Say which data it prepares: `--dataset-cid NAME` (the Python network's autoresearch " +
      'workspace uses climbmix-400b-shuffle), or `dataset_cid = "NAME"` in config.toml.',
  );
}

/**
 * The host directory of a workspace's home cache: `--data-cache`, else the same path under this
 * user's home. Undefined when prepare.py reads no cache under the home.
 */
export function dataCacheDir(layout: WorkspaceLayout, override?: string): string | undefined {
  if (override !== undefined) return resolve(override);
  if (layout.homeCache === undefined) return undefined;
  return join(homedir(), layout.homeCache);
}

/**
 * Whether the prepared data is there: null when it is (a non-empty directory), else what is
 * wrong and how to fix it.
 */
export async function dataCacheProblem(
  layout: WorkspaceLayout,
  hostDir: string | undefined,
): Promise<string | null> {
  if (hostDir === undefined) return null;
  let empty = true;
  try {
    for await (const _ of Deno.readDir(hostDir)) {
      empty = false;
      break;
    }
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "does not exist"
      : e instanceof Deno.errors.NotCapable
      ? "is not readable with the node's permissions (run the binary, or `deno task spore`)"
      : (e as Error).message;
    return `the prepared data ${hostDir} ${why}. ${prepareHint(layout, hostDir)}`;
  }
  return empty ? `the prepared data ${hostDir} is empty. ${prepareHint(layout, hostDir)}` : null;
}

function prepareHint(layout: WorkspaceLayout, hostDir: string): string {
  return `Prepare it outside the sandbox first: \`cd ${layout.dir} && uv run prepare.py\` ` +
    `(or \`python3 prepare.py\`), or point --data-cache at where it is (now ${hostDir}).`;
}

/**
 * Resolve a workspace for research: layout, class and data cache. `graph` is asked only when
 * neither flag nor config names the dataset.
 */
export async function resolveWorkspace(o: {
  dir: string;
  datasetCid?: string | undefined;
  configDatasetCid?: string | undefined;
  dataCache?: string | undefined;
  graphDatasets: (prepareCid: string) => { datasetCid: string; count: number }[];
}): Promise<ResolvedWorkspace> {
  const layout = await inspectWorkspace(o.dir);
  if (layout.embedded) {
    // The embedded prepare.py prepares and names its own dataset (runtime setup reads it).
    return {
      ...layout,
      researchClass: { datasetCid: "", prepareCid: layout.prepareCid },
      datasetSource: "prepare.py",
    };
  }
  const { datasetCid, source } = resolveDatasetCid(layout, {
    flag: o.datasetCid,
    config: o.configDatasetCid,
    graph: o.datasetCid ?? o.configDatasetCid ? [] : o.graphDatasets(layout.prepareCid),
  });
  return {
    ...layout,
    embedded: false,
    researchClass: { datasetCid, prepareCid: layout.prepareCid },
    datasetSource: source,
    dataCache: dataCacheDir(layout, o.dataCache),
  };
}
