/**
 * The Debian/Ubuntu packages Spore needs from the system, how to tell whether each is there, and
 * how to install the missing ones: `deno task test` (through scripts/test_deps.ts), `deno task run`
 * (one y/N question on a terminal) and `spore doctor --fix` all use this one list.
 *
 * Probes and the installer are injected so tests can simulate a missing package without
 * uninstalling anything.
 * @module
 */
import { type Exec, execCommand } from "../training/exec.ts";
import { findBwrap, findPython, TrainingSetupError } from "../training/mod.ts";

/** Who needs a package. */
export type PackageUse = "research" | "tests";

/** One system package. */
export interface SystemPackage {
  /** Debian package name (also Ubuntu's). */
  name: string;
  /** Why Spore needs it, for the prompt and the error. */
  why: string;
  /** Needed to research and verify, or only by the test suite. */
  use: PackageUse;
}

/** Every system package, research ones first. */
export const SYSTEM_PACKAGES: readonly SystemPackage[] = [
  { name: "python3-torch", why: "trains train.py (CPU build of PyTorch)", use: "research" },
  // Debian's reference BLAS makes a CPU training step about 10x slower than OpenBLAS.
  { name: "libopenblas0-pthread", why: "fast CPU matrix math for training", use: "research" },
  { name: "bubblewrap", why: "the sandbox every train.py runs in", use: "research" },
  { name: "chromium", why: "the explorer's browser tests", use: "tests" },
];

/** The packages for a use: `tests` needs every package (the suite trains too). */
export function packagesFor(use: PackageUse): SystemPackage[] {
  return SYSTEM_PACKAGES.filter((p) => use === "tests" || p.use === "research");
}

/** Tells whether one package is present. */
export type PackageProbe = (pkg: SystemPackage) => Promise<boolean>;

/** Directories where Debian's multiarch OpenBLAS (pthread flavour) lands. */
async function hasOpenBlas(): Promise<boolean> {
  try {
    for await (const e of Deno.readDir("/usr/lib")) {
      if (!e.isDirectory || !e.name.endsWith("-linux-gnu")) continue;
      if (await exists(`/usr/lib/${e.name}/openblas-pthread`)) return true;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return false;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * The real probe. Torch and bubblewrap are looked for the way training looks for them (any
 * Python that imports torch counts, not only Debian's); the others by the files they install.
 */
export function systemProbe(opts: { python?: string | undefined; exec?: Exec } = {}): PackageProbe {
  const exec = opts.exec ?? execCommand;
  return async (pkg) => {
    switch (pkg.name) {
      case "python3-torch":
        return await setupOk(() => findPython({ explicit: opts.python, exec }));
      case "bubblewrap":
        return await setupOk(() => findBwrap(exec));
      case "libopenblas0-pthread":
        return await hasOpenBlas();
      case "chromium":
        return await exists("/usr/bin/chromium");
      default:
        throw new RangeError(`no probe for system package ${pkg.name}`);
    }
  };
}

async function setupOk(find: () => Promise<unknown>): Promise<boolean> {
  try {
    await find();
    return true;
  } catch (e) {
    if (e instanceof TrainingSetupError) return false;
    throw e;
  }
}

/** The packages of `list` that the probe does not find. */
export async function missingPackages(
  list: readonly SystemPackage[],
  probe: PackageProbe,
): Promise<SystemPackage[]> {
  const missing: SystemPackage[] = [];
  for (const pkg of list) if (!(await probe(pkg))) missing.push(pkg);
  return missing;
}

/** How this process may install packages: as root, through passwordless sudo, or not at all. */
export type InstallRight = "root" | "sudo" | "none";

/** Where the installer programs live (by path: the node's `--allow-run` lists them so). */
export const INSTALL_PROGRAMS = { aptGet: "/usr/bin/apt-get", sudo: "/usr/bin/sudo" } as const;

/** Find out whether apt-get can be run with the rights to install. */
export async function installRight(
  exec: Exec = execCommand,
  uid: () => number | null = () => Deno.uid(),
): Promise<InstallRight> {
  const apt = await exec(INSTALL_PROGRAMS.aptGet, ["--version"], { timeoutMs: 10_000 });
  if (apt === null || apt.code !== 0) return "none";
  if (uid() === 0) return "root";
  // `-n`: never ask for a password (there is no terminal to ask on in CI or under `spore start`).
  const sudo = await exec(INSTALL_PROGRAMS.sudo, ["-n", "true"], { timeoutMs: 10_000 });
  return sudo !== null && sudo.code === 0 ? "sudo" : "none";
}

/** The exact command a person runs to install `names` (always shown with sudo for non-root). */
export function installCommand(names: readonly string[], right: InstallRight = "none"): string {
  const sudo = right === "root" ? "" : "sudo ";
  return `${sudo}apt-get update && ${sudo}apt-get install -y ${names.join(" ")}`;
}

/** Runs one installer step with its output shown (apt prints its own progress). */
export type StepRunner = (cmd: string, args: string[], env: Record<string, string>) => Promise<
  number
>;

/** The real step runner: inherits the terminal so the user sees apt's progress. */
export const runStep: StepRunner = async (cmd, args, env) => {
  const out = await new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return out.code;
};

/**
 * Install `names` with apt-get (`update`, then `install -y`). Returns null on success, else the
 * reason (which step failed, with its exit code).
 */
export async function installPackages(
  names: readonly string[],
  right: Exclude<InstallRight, "none">,
  run: StepRunner = runStep,
): Promise<string | null> {
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const apt = (args: string[]): [string, string[]] =>
    right === "root"
      ? [INSTALL_PROGRAMS.aptGet, args]
      : [INSTALL_PROGRAMS.sudo, ["-n", INSTALL_PROGRAMS.aptGet, ...args]];
  for (const args of [["update", "-q"], ["install", "-y", "-q", ...names]]) {
    const [cmd, argv] = apt(args);
    const code = await run(cmd, argv, env);
    if (code !== 0) return `apt-get ${args[0]} exited with code ${code}`;
  }
  return null;
}
