/**
 * The memory limit of every training run. Set in the Python launcher that becomes `train.py`
 * (sandboxed or not) as `RLIMIT_DATA`: the kernel's count of a process's private writable memory
 * (heap and anonymous mappings, where NumPy and PyTorch put CPU tensors). `RLIMIT_AS` would also
 * count the address space CUDA reserves without using it and break GPU runs. A run over its
 * limit gets MemoryError (or a failed allocation in native code) and ends as a crash with the
 * reason "out of memory"; the node is a separate process and is not affected.
 *
 * Not covered: each process of a run has its own limit (a run that forks workers can use up to
 * the sandbox's process limit times this), and memory the GPU holds. A cgroup would bound the
 * whole tree, but needs a delegated cgroup v2 memory controller, which typical hosts (and this
 * project's CI) do not give an unprivileged process.
 * @module
 */

/** A run's memory limit: a share of the machine's physical RAM, a size, or none. */
export type MemoryLimit =
  | { kind: "share"; percent: number }
  | { kind: "bytes"; bytes: number }
  | { kind: "none" };

/**
 * Default: half the machine's RAM. The node itself stays under 200 MB; the rest is left to the
 * system and page cache. The reference CPU training uses about 1.5 GB.
 */
export const DEFAULT_MEMORY_LIMIT: MemoryLimit = { kind: "share", percent: 50 };

/** Smallest explicit limit: Python alone needs about 10 MB, torch's import about 300 MB. */
export const MIN_MEMORY_LIMIT_BYTES = 64 * 2 ** 20;

const UNITS: Readonly<Record<string, number>> = {
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  M: 2 ** 20,
  G: 2 ** 30,
};

/**
 * Parse a limit as users write it (config `train_memory_limit`, `--train-memory-limit`):
 * `50%` (of physical RAM, 1-100), `4096MiB` / `8GiB` (also `M`/`G`), or `none`. Returns a
 * reason for anything else.
 */
export function parseMemoryLimit(text: string): MemoryLimit | { error: string } {
  const t = text.trim();
  if (/^none$/i.test(t)) return { kind: "none" };
  const share = /^(\d{1,3})%$/.exec(t);
  if (share) {
    const percent = Number(share[1]);
    if (percent >= 1 && percent <= 100) return { kind: "share", percent };
    return { error: `"${t}": a share of RAM must be 1% to 100%` };
  }
  const size = /^(\d{1,9})\s*(MiB|GiB|M|G)$/i.exec(t);
  if (size) {
    const bytes = Number(size[1]) * UNITS[size[2]!.toUpperCase()]!;
    if (bytes >= MIN_MEMORY_LIMIT_BYTES) return { kind: "bytes", bytes };
    return { error: `"${t}" is below the smallest limit of 64MiB` };
  }
  return { error: `"${t.slice(0, 40)}" is not a memory limit (e.g. 50%, 4096MiB, 8GiB or none)` };
}

/** Human form of a limit, for messages. */
export function describeMemoryLimit(m: MemoryLimit): string {
  switch (m.kind) {
    case "share":
      return `${m.percent}% of RAM`;
    case "bytes":
      return `${Math.round(m.bytes / 2 ** 20)} MiB`;
    case "none":
      return "none";
  }
}

/** The launcher's argument: `p<percent>`, `b<bytes>` or `0`. */
export function launcherMemoryArg(m: MemoryLimit): string {
  switch (m.kind) {
    case "share":
      return `p${m.percent}`;
    case "bytes":
      return `b${m.bytes}`;
    case "none":
      return "0";
  }
}

/**
 * Python lines that apply the limit passed as `sys.argv[i]` (see {@link launcherMemoryArg});
 * the share is of physical RAM as the kernel reports it.
 */
export function memoryLimitPython(argIndex: number): string[] {
  return [
    `m = sys.argv[${argIndex}]`,
    "if m[0] == 'p':",
    "    m = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') * int(m[1:]) // 100",
    "else:",
    "    m = int(m[1:] or 0)",
    "if m > 0:",
    "    resource.setrlimit(resource.RLIMIT_DATA, (m, m))",
  ];
}
