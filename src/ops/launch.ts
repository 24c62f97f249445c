/**
 * Deno permission profiles of the node, and how to start this program again as a child process
 * (the compiled binary runs itself; from a checkout, `deno run` with the profile's flags).
 *
 * Flags are templates as written in deno.json: `$HOME` is the user's home (the task shell
 * expands it) and `./` the repository root (the task's working directory).
 * @module
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { safetyCatch } from "../errors.ts";

/** Environment variables the node reads (Deno refuses any other). */
export const NODE_ENV_VARS: readonly string[] = [
  "HOME",
  "PATH",
  "NO_COLOR",
  // commander reads these to decide on colored help.
  "FORCE_COLOR",
  "CLICOLOR_FORCE",
  "SPORE_HOME",
  "SPORE_LOG",
  "SPORE_DEBUG",
  "SPORE_PYTHON",
  "SPORE_CACHE_DIR",
  "SPORE_DATASET",
  "SPORE_SPOT_CHECK_RATE",
  "SPORE_CHALLENGE_TIMEOUT",
  "SPORE_ACCEPT_UNSIGNED_CONTROL",
  // Passed on to train.py (the Python node's switch for torch.compile).
  "SPORE_DISABLE_COMPILE",
  "CUDA_VISIBLE_DEVICES",
];

/** Programs training spawns: the Python probe's candidates, bubblewrap and the GPU query. */
export const TRAINING_PROGRAMS: readonly string[] = [
  "python3",
  "/usr/bin/python3",
  "/usr/local/bin/python3",
  "bwrap",
  "/usr/bin/bwrap",
  // By path: Deno resolves names in the list at startup and reports each one it cannot find.
  "/usr/bin/nvidia-smi",
  // Installing what research needs, only after the user says yes (src/cli/packages.ts).
  "/usr/bin/apt-get",
  "/usr/bin/sudo",
];

/** What training reads besides the data dir: the sandbox inspects the system dirs and /dev. */
const TRAINING_READ = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/dev"];

/** The node's modes, as far as permissions go. */
export type PermissionMode = "research" | "verify-only" | "sync-only";

/**
 * Deno permission flags for a mode. Every mode: network (peers are any host and port, so it
 * cannot be narrowed), read of the UI and workspace template, read/write of `$HOME/.spore`,
 * the variables in {@link NODE_ENV_VARS}, and `homedir` (default data dir). Training modes
 * (research and verify-only, which reruns others' experiments) add the temp dir, the system
 * dirs the sandbox binds, `uid` (root runs the sandbox differently) and the programs in
 * {@link TRAINING_PROGRAMS}. Sync-only is the smallest set.
 */
export function permissionFlags(mode: PermissionMode): string[] {
  const training = mode !== "sync-only";
  const data = "$HOME/.spore";
  // ./src: worker threads load their modules with read access.
  const read = [
    "./src",
    "./static",
    "./workspace",
    data,
    ...(training ? ["/tmp", ...TRAINING_READ] : []),
  ];
  const write = [data, ...(training ? ["/tmp"] : [])];
  const flags = [
    `--allow-read=${read.join(",")}`,
    `--allow-write=${write.join(",")}`,
    "--allow-net",
    `--allow-env=${NODE_ENV_VARS.join(",")}`,
    `--allow-sys=${training ? "homedir,uid" : "homedir"}`,
  ];
  if (training) flags.push(`--allow-run=${TRAINING_PROGRAMS.join(",")}`);
  return flags;
}

/**
 * V8 heap settings of the node (tasks, compiled binary, `spore start`): a small young
 * generation and a capped old space keep a node with 50,000 records near 150 MB resident; its
 * live heap is about 15-25 MB. A 1 MiB semi-space measured no slower than 2 MiB in
 * scripts/bench/net.ts and about 3 MB smaller per isolate pair.
 */
export const NODE_V8_FLAGS = "--v8-flags=--max-semi-space-size=1,--max-old-space-size=128";

/** Permission flags of `deno task run` (a test keeps deno.json equal). */
export const RUN_PERMISSIONS: readonly string[] = permissionFlags("research");

/**
 * Permission flags of `deno task compile`. A binary is built once and run on other machines
 * with any data dir, so paths cannot be baked in: read and write stay open; env, sys and run
 * are narrowed as for `run`, plus `/bin/sh`, which `spore start` uses to detach the node.
 */
export const COMPILE_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  `--allow-env=${NODE_ENV_VARS.join(",")}`,
  "--allow-sys=homedir,uid",
  `--allow-run=${[...TRAINING_PROGRAMS, "/bin/sh"].join(",")}`,
];

/** Where the templates point for one launch. */
export interface PermissionPaths {
  home: string;
  /** The data dir the node will use (it replaces `$HOME/.spore`). */
  dataDir: string;
  /** Repository root (`./`). */
  root: string;
}

/**
 * Turn template flags into concrete ones: `$HOME/.spore` becomes the data dir actually used
 * (so `--data-dir` and `SPORE_HOME` keep working), `$HOME` the home, `./` the repository root.
 */
export function expandPermissions(flags: readonly string[], paths: PermissionPaths): string[] {
  return flags.map((flag) => {
    const eq = flag.indexOf("=");
    if (eq < 0 || !/^--allow-(read|write)$/.test(flag.slice(0, eq))) return flag;
    const list = flag.slice(eq + 1).split(",").map((p) => {
      if (p === "$HOME/.spore") return paths.dataDir;
      if (p.startsWith("$HOME/")) return join(paths.home, p.slice(6));
      if (p.startsWith("./")) return join(paths.root, p.slice(2));
      return p;
    });
    return `${flag.slice(0, eq)}=${[...new Set(list)].join(",")}`;
  });
}

/** True when running as a `deno compile` binary rather than under `deno run`. */
export function isCompiled(execPath = Deno.execPath()): boolean {
  return !/^deno(\.exe)?$/.test(basename(execPath));
}

/**
 * Command and leading arguments that re-run this CLI for a node on `dataDir` (append the
 * subcommand and its args); `extraRead` paths are added to the read permission. From a checkout it runs with {@link RUN_PERMISSIONS} expanded for
 * that data dir; a compiled binary carries its own permissions.
 */
export function selfCommand(
  dataDir: string,
  mainModule = Deno.mainModule,
  extraRead: readonly string[] = [],
): { cmd: string; args: string[] } {
  if (isCompiled()) return { cmd: Deno.execPath(), args: [] };
  const main = mainModule.startsWith("file:") ? fileURLToPath(mainModule) : mainModule;
  let home = dataDir;
  try {
    home = Deno.env.get("HOME") ?? dataDir;
  } catch (e) {
    safetyCatch(e); // no env permission: $HOME paths fall back to the data dir
  }
  // A `--workspace` and its data cache live outside the profile's paths: read-only additions.
  const flags = expandPermissions(RUN_PERMISSIONS, { home, dataDir, root: dirname(main) })
    .map((f) =>
      f.startsWith("--allow-read=") && extraRead.length ? `${f},${extraRead.join(",")}` : f
    );
  return { cmd: Deno.execPath(), args: ["run", ...flags, NODE_V8_FLAGS, main] };
}
