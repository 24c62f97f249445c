/**
 * What this machine offers the training tests. Tests that need torch or bubblewrap are skipped
 * (with `ignore:`) only when those are absent, and say so once.
 * @module
 */
import { findBwrap, findPython, type PythonInfo } from "../../src/training/mod.ts";

async function probeTorch(): Promise<PythonInfo | null> {
  try {
    return await findPython();
  } catch (e) {
    console.warn(`[tests/training] torch tests skipped: ${(e as Error).message}`);
    return null;
  }
}

async function probeBwrap(): Promise<string | null> {
  try {
    return await findBwrap();
  } catch {
    console.warn("[tests/training] sandbox tests skipped: bwrap is not installed");
    return null;
  }
}

/** A Python with torch, or null. */
export const TORCH: PythonInfo | null = await probeTorch();
/** The bwrap command, or null. */
export const BWRAP: string | null = await probeBwrap();
/** Any Python 3 at all (for tests of the torch-free workspace files). */
export const PYTHON3: string | null = TORCH?.path ?? await anyPython();

async function anyPython(): Promise<string | null> {
  for (const p of ["/usr/bin/python3", "python3"]) {
    try {
      const out = await new Deno.Command(p, { args: ["-c", "pass"] }).output();
      if (out.success) return p;
    } catch {
      // Try the next one.
    }
  }
  console.warn("[tests/training] workspace tests skipped: no python3");
  return null;
}

/** Snapshot of a directory tree (path -> sha256 of content), to prove a run changed nothing. */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(d: string): Promise<void> {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) {
        out.set(`${p}/`, "dir");
        await walk(p);
      } else {
        const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(p));
        out.set(
          p,
          Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(""),
        );
      }
    }
  }
  await walk(dir);
  return out;
}

const LIST_PROCESSES = `
import json, os, sys
found = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == os.getpid():
        continue  # our own argv holds the marker
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        continue  # ended while we looked
    state = stat[stat.rfind(")") + 2]
    if sys.argv[1] in cmd and state != "Z":  # Z = zombie: already dead
        found.append(f"{pid} {state} {cmd}")
print(json.dumps(found))
`;

/**
 * Host processes (not zombies) whose command line contains `marker`. Read from /proc by Python
 * because Deno only lets a fully privileged process read /proc, and `ps` may not be installed.
 */
export async function liveProcesses(marker: string): Promise<string[]> {
  const out = await new Deno.Command(PYTHON3 ?? "python3", { args: ["-c", LIST_PROCESSES, marker] })
    .output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}
