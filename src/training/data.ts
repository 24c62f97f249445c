/**
 * Prepare the training data once per node by running our own (trusted, bundled) prepare.py, and
 * read the dataset and prepare identities that go into every record.
 * @module
 */
import { join } from "node:path";
import { type Exec, execCommand } from "./exec.ts";
import { TrainingSetupError } from "./errors.ts";
import { readWorkspaceFile, removeTree } from "./workspace.ts";

/** Identity of the data every run trains and evaluates on. */
export interface PreparedData {
  dataset: string;
  /** sha256 of the generated corpus, or of the web dataset's name + shard list. */
  datasetCid: string;
  /** sha256 of prepare.py. */
  prepareCid: string;
  /** The cache directory that now holds the data. */
  cacheDir: string;
  /** prepare.py's TIME_BUDGET (seconds of accelerator training). */
  timeBudget: number;
}

/** Options for `prepareData`. */
export interface PrepareOptions {
  python: string;
  cacheDir: string;
  /** SPORE_DATASET (default synthetic). */
  dataset?: string | undefined;
  /** Where prepare.py comes from (default bundled). */
  sourceDir?: string | undefined;
  timeoutMs?: number;
  exec?: Exec | undefined;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Run our prepare.py with `args` from a real directory (bundled files may be virtual). */
async function runPrepare(opts: PrepareOptions, args: string[]) {
  const exec = opts.exec ?? execCommand;
  const source = await readWorkspaceFile("prepare.py", opts.sourceDir);
  // Copy to a real directory: a compiled binary's bundled files are not visible to Python.
  const tmp = await Deno.makeTempDir({ prefix: "spore-prepare-" });
  try {
    await Deno.writeFile(join(tmp, "prepare.py"), source);
    const env: Record<string, string> = { SPORE_CACHE_DIR: opts.cacheDir };
    if (opts.dataset) env.SPORE_DATASET = opts.dataset;
    return await exec(opts.python, ["prepare.py", ...args], {
      cwd: tmp,
      env,
      timeoutMs: opts.timeoutMs ?? 3_600_000,
    });
  } finally {
    await removeTree(tmp);
  }
}

/**
 * Whether the data is ready, without generating or downloading anything: `null` when ready,
 * else the reason.
 */
export async function checkPreparedData(opts: PrepareOptions): Promise<string | null> {
  const res = await runPrepare(opts, ["--check"]);
  if (res === null) return `cannot run ${opts.python}`;
  if (res.code === 0) return null;
  const why = res.stderr.trim().split("\n").at(-1) ?? "";
  return res.code === 2 ? `not prepared yet in ${opts.cacheDir}` : why || `exit code ${res.code}`;
}

/** Generate or download the data into `cacheDir` (idempotent: cached data is reused). */
export async function prepareData(opts: PrepareOptions): Promise<PreparedData> {
  await Deno.mkdir(opts.cacheDir, { recursive: true });
  const res = await runPrepare(opts, []);
  if (res === null) {
    throw new TrainingSetupError("python_missing", `cannot run ${opts.python} to prepare data`);
  }
  const last = res.stdout.trim().split("\n").at(-1) ?? "";
  let info: Record<string, unknown> = {};
  try {
    info = JSON.parse(last);
  } catch (e) {
    // Not JSON: fall through to the error below with prepare.py's own message.
    if (!(e instanceof SyntaxError)) throw e;
  }
  if (res.code !== 0 || typeof info.dataset_cid !== "string") {
    const why = res.stderr.trim().split("\n").at(-1) || `exit code ${res.code}`;
    throw new TrainingSetupError("data_failed", `data preparation failed: ${why}`);
  }
  const datasetCid = String(info.dataset_cid);
  const prepareCid = String(info.prepare_cid ?? "");
  if (!HEX64.test(datasetCid) || !HEX64.test(prepareCid)) {
    throw new TrainingSetupError("data_failed", "prepare.py printed malformed identities");
  }
  return {
    dataset: String(info.dataset ?? opts.dataset ?? "synthetic"),
    datasetCid,
    prepareCid,
    cacheDir: opts.cacheDir,
    timeBudget: Number.isSafeInteger(info.time_budget) && Number(info.time_budget) > 0
      ? Number(info.time_budget)
      : 300,
  };
}
