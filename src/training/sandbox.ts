/**
 * Bubblewrap sandbox for `train.py` runs.
 *
 * Inside: no network (own net namespace), own PID/IPC/UTS namespaces, a read-only view of the
 * system libraries and the Python install only, the run's temporary workspace as the single
 * writable directory (at /workspace), the prepared data read-only (at /data), GPU device nodes when
 * present, a minimal environment, a process-count limit and no view of the home directory or the
 * node's data dir. The sandbox dies with its bwrap parent, so killing bwrap kills the whole tree.
 *
 * When the node runs as root, bwrap runs privileged (no user namespace) and a tiny launcher drops
 * to uid/gid 65534 before exec'ing Python: RLIMIT_NPROC is not enforced for root, so the process
 * limit would otherwise be void.
 * @module
 */
import { type Exec, execCommand } from "./exec.ts";
import { TrainingSetupError } from "./errors.ts";
import {
  DEFAULT_MEMORY_LIMIT,
  launcherMemoryArg,
  type MemoryLimit,
  memoryLimitPython,
} from "./memory.ts";
import { safetyCatch } from "../errors.ts";

/** Where things appear inside the sandbox. */
export const SANDBOX_WORKSPACE = "/workspace";
/** Mount point of the prepared data (SPORE_CACHE_DIR inside). */
export const SANDBOX_DATA = "/data";
/** Unprivileged id used when the node itself is root and no per-run id is given. */
export const NOBODY_ID = 65534;
/** Per-run ids for a root node come from [SANDBOX_UID_BASE, SANDBOX_UID_BASE + SANDBOX_UID_SPAN). */
export const SANDBOX_UID_BASE = 200_000;
/** See `SANDBOX_UID_BASE`. */
export const SANDBOX_UID_SPAN = 800_000;

/**
 * A fresh unprivileged uid for one run of a root node: RLIMIT_NPROC counts per uid, so runs with
 * distinct ids cannot starve each other of processes, nor signal each other.
 */
export function pickSandboxUid(): number {
  const [random] = crypto.getRandomValues(new Uint32Array(1));
  return SANDBOX_UID_BASE + (random! % SANDBOX_UID_SPAN); // a 1-element array has index 0
}
/** Default cap on processes and threads inside one sandbox (torch needs a few dozen threads). */
export const DEFAULT_MAX_PROCESSES = 256;

/** Top-level system entries: a real directory is bound read-only, a symlink is recreated. */
export interface SystemEntry {
  path: string;
  symlinkTo?: string;
}

/** Directories (or merged-/usr symlinks) a Python with torch needs. */
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/** The few /etc files the dynamic loader, BLAS alternatives and Python read. */
const ETC_FILES = [
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/alternatives",
  "/etc/localtime",
  "/etc/passwd",
  "/etc/group",
  "/etc/python3",
  "/etc/python3.11",
  "/etc/python3.12",
  "/etc/python3.13",
];

/** Device nodes of NVIDIA GPUs that CUDA opens. */
const GPU_DEVICE_PATTERN = /^nvidia(\d+|ctl|-uvm|-uvm-tools|-modeset)$/;

/** Everything needed to build one sandboxed command line. */
export interface SandboxSpec {
  bwrap: string;
  /** Host directory bound read-write at /workspace. */
  workspaceDir: string;
  /** Host directory with the prepared data, bound read-only at /data (none: no /data). */
  dataDir?: string | undefined;
  /**
   * Host directories bound read-only under the sandbox's home (/workspace), at the path relative
   * to it where the script looks (a foreign workspace's `~/.cache/autoresearch`).
   */
  homeBinds?: HomeBind[] | undefined;
  /** Absolute interpreter path (as seen on the host, bound at the same path). */
  python: string;
  /** Interpreter install roots outside the system dirs, bound read-only at the same path. */
  pythonRoots: string[];
  /** Paths that must never be visible (the node's data dir): no bind contains or enters them. */
  hiddenPaths: string[];
  /** The user's home: never bound as a whole. */
  homeDir?: string | undefined;
  /** Environment inside the sandbox, on top of the minimal base. */
  env: Record<string, string>;
  /** The script and its arguments, relative to /workspace. */
  argv: string[];
  system: SystemEntry[];
  gpuDevices: string[];
  maxProcesses: number;
  /** Whether the node runs as root (decides user namespace vs. privilege drop). */
  asRoot: boolean;
  /** Uid/gid a root node drops to (default NOBODY_ID); must own the workspace. */
  runUid?: number | undefined;
  /** Memory limit of the run (default {@link DEFAULT_MEMORY_LIMIT}). */
  memoryLimit?: MemoryLimit;
}

/** A read-only bind under the sandbox's home directory. */
export interface HomeBind {
  host: string;
  /** Path below the home, e.g. `.cache/autoresearch` (plain segments only). */
  rel: string;
}

/** Whether `rel` is a plain relative path (no `..`, no absolute path, no odd characters). */
export function isPlainRelPath(rel: string): boolean {
  const parts = rel.split("/");
  return parts.length > 0 && parts.every((p) => /^[\w.-]+$/.test(p) && p !== "." && p !== "..");
}

/** Largest file a run may write (a runaway log or checkpoint must not fill the disk). */
export const MAX_FILE_BYTES = 4 * 2 ** 30;

/**
 * Sets the process, file-size and memory limits (`memory.ts`), drops root if needed, then
 * becomes the real interpreter. Python is used because it is the one program sure to be inside
 * the sandbox. Arguments: process limit, uid, memory limit, interpreter and its arguments.
 */
export const LAUNCHER = [
  "import os, resource, sys",
  "n, uid = int(sys.argv[1]), int(sys.argv[2])",
  "resource.setrlimit(resource.RLIMIT_NPROC, (n, n))",
  "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))",
  `resource.setrlimit(resource.RLIMIT_FSIZE, (${MAX_FILE_BYTES}, ${MAX_FILE_BYTES}))`,
  ...memoryLimitPython(3),
  "if os.getuid() == 0:",
  "    os.setgroups([]); os.setgid(uid); os.setuid(uid)",
  "os.execv(sys.argv[4], sys.argv[4:])",
].join("\n");

function isInside(path: string, dir: string): boolean {
  const d = dir.endsWith("/") ? dir : `${dir}/`;
  return path === dir || path.startsWith(d);
}

/**
 * Roots worth binding: outside the system dirs, never containing or inside a hidden path, and never
 * the whole home directory (an interpreter installed under it, e.g. ~/venv, is still bound).
 */
export function bindableRoots(roots: string[], hidden: string[], homeDir?: string): string[] {
  const out: string[] = [];
  for (const r of roots) {
    if (!r.startsWith("/") || r === "/") continue;
    if (SYSTEM_DIRS.some((s) => isInside(r, s))) continue;
    if (hidden.some((h) => isInside(h, r) || isInside(r, h))) continue;
    if (homeDir && isInside(homeDir, r)) continue;
    if (out.some((o) => isInside(r, o))) continue;
    out.push(r);
  }
  return out;
}

/** Build the full `bwrap` argument list (pure, so the policy is unit-tested). */
export function buildSandboxArgs(spec: SandboxSpec): string[] {
  const a: string[] = [
    "--die-with-parent",
    "--new-session",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--hostname",
    "spore-sandbox",
  ];
  if (spec.asRoot) {
    // The launcher needs these two to drop to nobody; setuid() then clears every capability.
    a.push("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID");
  } else {
    a.push("--unshare-user");
  }
  for (const e of spec.system) {
    if (e.symlinkTo !== undefined) a.push("--symlink", e.symlinkTo, e.path);
    else a.push("--ro-bind", e.path, e.path);
  }
  // bwrap creates missing parents of a bind as 0700, which the dropped-privilege user could not
  // traverse: create them world-readable first.
  const made = new Set<string>();
  const mkdirs = (path: string) => {
    const parts = path.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = `/${parts.slice(0, i).join("/")}`;
      if (made.has(dir) || spec.system.some((e) => isInside(dir, e.path))) continue;
      made.add(dir);
      a.push("--perms", "0755", "--dir", dir);
    }
  };
  mkdirs("/etc/x");
  for (const f of ETC_FILES) a.push("--ro-bind-try", f, f);
  for (const r of bindableRoots(spec.pythonRoots, spec.hiddenPaths, spec.homeDir)) {
    mkdirs(r);
    a.push("--ro-bind", r, r);
  }
  a.push("--proc", "/proc", "--dev", "/dev");
  for (const d of spec.gpuDevices) a.push("--dev-bind", d, d);
  if (spec.gpuDevices.length > 0) a.push("--ro-bind-try", "/sys", "/sys");
  a.push("--bind", spec.workspaceDir, SANDBOX_WORKSPACE);
  if (spec.dataDir !== undefined) a.push("--ro-bind", spec.dataDir, SANDBOX_DATA);
  for (const b of spec.homeBinds ?? []) {
    if (!isPlainRelPath(b.rel)) throw new RangeError(`home bind path ${b.rel} is not plain`);
    a.push("--ro-bind", b.host, `${SANDBOX_WORKSPACE}/${b.rel}`);
  }
  a.push("--chdir", SANDBOX_WORKSPACE, "--clearenv");
  const env: Record<string, string> = {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: SANDBOX_WORKSPACE,
    TMPDIR: `${SANDBOX_WORKSPACE}/.tmp`,
    USER: "nobody",
    LANG: "C.UTF-8",
    PYTHONUNBUFFERED: "1",
    PYTHONDONTWRITEBYTECODE: "1",
    PYTHONNOUSERSITE: "1",
    ...spec.env,
  };
  if (spec.dataDir !== undefined) env.SPORE_CACHE_DIR = SANDBOX_DATA;
  for (const [k, v] of Object.entries(env)) a.push("--setenv", k, v);
  a.push(
    "--",
    spec.python,
    "-c",
    LAUNCHER,
    String(spec.maxProcesses),
    String(spec.runUid ?? NOBODY_ID),
    launcherMemoryArg(spec.memoryLimit ?? DEFAULT_MEMORY_LIMIT),
    spec.python,
    ...spec.argv,
  );
  return a;
}

/** Inspect the host's top-level system dirs (merged /usr makes /bin, /lib... symlinks). */
export async function systemLayout(): Promise<SystemEntry[]> {
  const out: SystemEntry[] = [];
  for (const path of SYSTEM_DIRS) {
    try {
      const st = await Deno.lstat(path);
      if (st.isSymlink) out.push({ path, symlinkTo: await Deno.readLink(path) });
      else if (st.isDirectory) out.push({ path });
    } catch (e) {
      safetyCatch(e);
      // Absent on this distribution.
    }
  }
  return out;
}

/** NVIDIA device nodes present on the host, to pass through. */
export async function gpuDeviceNodes(devDir = "/dev"): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(devDir)) {
      if (GPU_DEVICE_PATTERN.test(e.name)) out.push(`${devDir}/${e.name}`);
    }
  } catch (e) {
    safetyCatch(e);
    // No /dev listing (unusual): run without GPU nodes.
  }
  return out.sort();
}

/** How to install bubblewrap, for every message that needs it. */
export const BWRAP_INSTALL_HINT =
  "Install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu), " +
  "`sudo dnf install bubblewrap` (Fedora), `sudo pacman -S bubblewrap` (Arch). " +
  "bubblewrap is Linux-only: elsewhere (e.g. macOS), and only for code you trust, " +
  "pass --unsafe-no-sandbox.";

/** Locate a working `bwrap`, or throw `TrainingSetupError("bwrap_missing")`. */
export async function findBwrap(
  exec: Exec = execCommand,
  candidates: readonly string[] = ["bwrap", "/usr/bin/bwrap"],
): Promise<string> {
  for (const c of candidates) {
    const res = await exec(c, ["--version"], { timeoutMs: 10_000 });
    if (res !== null && res.code === 0) return c;
  }
  throw new TrainingSetupError(
    "bwrap_missing",
    `bubblewrap (bwrap) is not installed, and Spore runs every train.py inside it. ${BWRAP_INSTALL_HINT}`,
  );
}

/**
 * Prove the sandbox can start here (user namespaces may be disabled). Runs `python -c pass`
 * through the same launcher. Throws `TrainingSetupError("sandbox_failed")` with the fix.
 */
export async function checkSandbox(
  spec: Omit<SandboxSpec, "argv" | "env">,
  exec: Exec = execCommand,
): Promise<void> {
  const args = buildSandboxArgs({ ...spec, env: {}, argv: ["-c", "pass"] });
  const res = await exec(spec.bwrap, args, { timeoutMs: 60_000 });
  if (res !== null && res.code === 0) return;
  const why = res === null ? "bwrap could not be started" : res.stderr.trim().split("\n").at(-1);
  throw new TrainingSetupError(
    "sandbox_failed",
    `bubblewrap is installed but cannot create the sandbox (${why}). Unprivileged user ` +
      "namespaces may be disabled: enable them (`sudo sysctl kernel.unprivileged_userns_clone=1`, " +
      "or on Ubuntu 24.04+ `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`), " +
      "or, only for code you trust, pass --unsafe-no-sandbox.",
  );
}
