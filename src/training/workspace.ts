/**
 * The Python workspace (train.py, prepare.py, batching.py) and fresh per-run copies of it.
 *
 * Every run gets a new temporary directory holding our own prepare.py and batching.py plus the
 * train.py under test, so a rerun can never see files a previous run left behind and a hostile
 * train.py can only damage its own throwaway copy.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TrainingSetupError } from "./errors.ts";
import { type HomeBind, isPlainRelPath } from "./sandbox.ts";
import { safetyCatch } from "../errors.ts";

/** Files that make up a workspace. */
export const WORKSPACE_FILES = ["train.py", "prepare.py", "batching.py"] as const;

/** The workspace shipped with Spore (in a checkout, or embedded by `deno compile --include`). */
export function bundledWorkspaceDir(): string {
  return fileURLToPath(new URL("../../workspace/", import.meta.url));
}

/** Read one of the workspace files from `dir` (default: the bundled workspace). */
export async function readWorkspaceFile(
  name: (typeof WORKSPACE_FILES)[number],
  dir = bundledWorkspaceDir(),
): Promise<Uint8Array> {
  try {
    return await Deno.readFile(join(dir, name));
  } catch (e) {
    throw new TrainingSetupError(
      "workspace_missing",
      `cannot read ${name} from the workspace ${dir}: ${(e as Error).message}`,
    );
  }
}

/** A throwaway workspace; `dispose()` removes it. */
export interface RunWorkspace {
  dir: string;
  dispose(): Promise<void>;
}

/** Options for `createRunWorkspace`. */
export interface RunWorkspaceOptions {
  /** The train.py to run (bytes or text). */
  trainPy: Uint8Array | string;
  /** Where prepare.py and batching.py come from (default: bundled). */
  sourceDir?: string | undefined;
  /** Parent of the temp dir (default: the system temp dir). */
  parentDir?: string | undefined;
  /**
   * Hand the directory to this uid/gid: a root node drops to an unprivileged id inside the
   * sandbox, which must still be able to write its workspace.
   */
  chownTo?: number | undefined;
  /** batching.py may be absent from `sourceDir` (a foreign workspace); default required. */
  batchingOptional?: boolean;
  /**
   * Data the script finds under its home (the run's workspace): the mount points are created
   * (owned like the workspace) for the sandbox to bind onto, or, with `linkHomeBinds`, symlinks to
   * the host dirs for an unsandboxed run.
   */
  homeBinds?: HomeBind[] | undefined;
  linkHomeBinds?: boolean;
}

/** Make a fresh workspace with our prepare.py/batching.py and the given train.py. */
export async function createRunWorkspace(opts: RunWorkspaceOptions): Promise<RunWorkspace> {
  const prepare = await readWorkspaceFile("prepare.py", opts.sourceDir);
  const batching = opts.batchingOptional
    ? await readWorkspaceFile("batching.py", opts.sourceDir).catch(() => undefined)
    : await readWorkspaceFile("batching.py", opts.sourceDir);
  const dir = await Deno.makeTempDir({
    prefix: "spore-run-",
    ...(opts.parentDir === undefined ? {} : { dir: opts.parentDir }),
  });
  const dispose = () => removeTree(dir);
  try {
    await Deno.writeFile(join(dir, "prepare.py"), prepare, { mode: 0o644 });
    if (batching) await Deno.writeFile(join(dir, "batching.py"), batching, { mode: 0o644 });
    const train = typeof opts.trainPy === "string"
      ? new TextEncoder().encode(opts.trainPy)
      : opts.trainPy;
    await Deno.writeFile(join(dir, "train.py"), train, { mode: 0o644 });
    await Deno.mkdir(join(dir, ".tmp"));
    const made = [dir, join(dir, ".tmp")];
    for (const b of opts.homeBinds ?? []) made.push(...await homeBindPoint(dir, b, opts));
    // makeTempDir creates 0700; the sandboxed user may be a different uid (see chownTo).
    await Deno.chmod(dir, 0o755);
    if (opts.chownTo !== undefined) {
      for (const p of [...made, ...WORKSPACE_FILES.map((f) => join(dir, f))]) {
        await Deno.chown(p, opts.chownTo, opts.chownTo).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
      }
    }
  } catch (e) {
    await dispose();
    throw e;
  }
  return { dir, dispose };
}

/** Create the parents of a home bind (and its mount point, or its link); returns dirs made. */
async function homeBindPoint(
  dir: string,
  b: HomeBind,
  opts: RunWorkspaceOptions,
): Promise<string[]> {
  if (!isPlainRelPath(b.rel)) throw new RangeError(`home bind path ${b.rel} is not plain`);
  const parts = b.rel.split("/");
  const made: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const p = join(dir, ...parts.slice(0, i));
    await Deno.mkdir(p, { mode: 0o755 }).catch((e) => {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    });
    made.push(p);
  }
  const at = join(dir, ...parts);
  if (opts.linkHomeBinds) await Deno.symlink(b.host, at);
  else {
    await Deno.mkdir(at, { mode: 0o755 });
    made.push(at);
  }
  return made;
}

/** Remove a run workspace even if the run left directories without write permission behind. */
export async function removeTree(dir: string): Promise<void> {
  try {
    await Deno.remove(dir, { recursive: true });
    return;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
  }
  await makeWritable(dir);
  await Deno.remove(dir, { recursive: true }).catch(safetyCatch);
}

async function makeWritable(dir: string): Promise<void> {
  await Deno.chmod(dir, 0o700).catch(safetyCatch);
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await makeWritable(join(dir, e.name));
    }
  } catch (e) {
    safetyCatch(e);
    // Unreadable even after chmod: nothing more we can do.
  }
}
