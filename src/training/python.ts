/**
 * Find a Python interpreter that can `import torch`, and describe what torch sees.
 *
 * Order: an explicit path (flag or config `python`), then `SPORE_PYTHON`, then well-known
 * candidates. An explicit choice that does not work is an error, never silently replaced: the user
 * asked for that interpreter.
 * @module
 */
import { type Exec, execCommand } from "./exec.ts";
import { TrainingSetupError } from "./errors.ts";

/** Interpreters tried when none is configured (Debian's python3-torch lives in /usr/bin). */
export const PYTHON_CANDIDATES: readonly string[] = [
  "/usr/bin/python3",
  "python3",
  "/usr/local/bin/python3",
  "python",
];

/** What torch reports about the accelerator it would train on. */
export interface TorchInfo {
  version: string;
  /** CUDA version torch was built with, or "" for a CPU/MPS build. */
  cudaVersion: string;
  cudaAvailable: boolean;
  mpsAvailable: boolean;
  /** Name of CUDA device 0, "" when there is none. */
  deviceName: string;
  totalMemoryMb: number;
  smCount: number;
  /** Whether `torch.compile` exists (torch 2.x). */
  hasCompile: boolean;
}

/** A working interpreter. */
export interface PythonInfo {
  /** What the node executes, as configured or found (matches `--allow-run` entries). */
  path: string;
  /** The interpreter binary itself (symlinks resolved): what runs inside the sandbox. */
  realPath: string;
  version: string;
  /** Install prefixes and import roots; the sandbox binds those outside /usr read-only. */
  roots: string[];
  torch: TorchInfo;
}

/** Where the choice of interpreter comes from. */
export interface PythonSearch {
  /** From `--python` or config `python`. */
  explicit?: string | undefined;
  /** Environment lookup (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
  candidates?: readonly string[];
  exec?: Exec | undefined;
}

/** Printed as one JSON line by the probe; tolerant of torch being absent or half-installed. */
const PROBE = `
import json, os, sys
info = {"executable": os.path.realpath(sys.executable), "version": sys.version.split()[0]}
roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, getattr(sys, "base_exec_prefix", sys.prefix)}
roots.update(p for p in sys.path if p and os.path.isdir(p))
try:
    import torch
    cuda = torch.cuda.is_available()
    props = torch.cuda.get_device_properties(0) if cuda else None
    mps = getattr(torch.backends, "mps", None)
    info["torch"] = {
        "version": torch.__version__,
        "cudaVersion": torch.version.cuda or "",
        "cudaAvailable": cuda,
        "mpsAvailable": bool(mps is not None and mps.is_available()),
        "deviceName": props.name if props else "",
        "totalMemoryMb": int(props.total_memory // 2**20) if props else 0,
        "smCount": int(props.multi_processor_count) if props else 0,
        "hasCompile": hasattr(torch, "compile"),
    }
    roots.add(os.path.dirname(os.path.dirname(os.path.realpath(torch.__file__))))
except Exception as e:
    info["torch_error"] = f"{type(e).__name__}: {e}"
info["roots"] = sorted(os.path.realpath(r) for r in roots)
print(json.dumps(info))
`;

const INSTALL_HINT =
  "Install PyTorch (Debian/Ubuntu: `sudo apt-get install python3-torch`; elsewhere: " +
  "`python3 -m pip install torch`), or point Spore at a Python that has it with `--python PATH`, " +
  'SPORE_PYTHON=PATH or `python = "PATH"` in config.toml.';

type ProbeOutcome =
  | { kind: "ok"; info: PythonInfo }
  | { kind: "missing" }
  | { kind: "no_torch"; path: string; detail: string };

/** Run the probe with one interpreter. */
export async function probePython(cmd: string, exec: Exec = execCommand): Promise<ProbeOutcome> {
  const res = await exec(cmd, ["-c", PROBE], { timeoutMs: 120_000 });
  if (res === null) return { kind: "missing" };
  const line = res.stdout.trim().split("\n").at(-1) ?? "";
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    const detail = (res.stderr.trim().split("\n").at(-1) ?? "") || `exit code ${res.code}`;
    // Not a Python 3 that can run our probe (e.g. Python 2, or a broken shim).
    return { kind: "no_torch", path: cmd, detail };
  }
  const p = parsed as Record<string, unknown>;
  const realPath = typeof p.executable === "string" && p.executable ? p.executable : cmd;
  const torch = p.torch as Record<string, unknown> | undefined;
  if (!torch || typeof torch.version !== "string") {
    return {
      kind: "no_torch",
      path: realPath,
      detail: String(p.torch_error ?? "torch not importable"),
    };
  }
  const roots = Array.isArray(p.roots) ? p.roots.filter((r) => typeof r === "string") : [];
  return {
    kind: "ok",
    info: {
      path: cmd,
      realPath,
      version: typeof p.version === "string" ? p.version : "",
      roots,
      torch: {
        version: torch.version,
        cudaVersion: typeof torch.cudaVersion === "string" ? torch.cudaVersion : "",
        cudaAvailable: torch.cudaAvailable === true,
        mpsAvailable: torch.mpsAvailable === true,
        deviceName: typeof torch.deviceName === "string" ? torch.deviceName : "",
        totalMemoryMb: Number(torch.totalMemoryMb) || 0,
        smCount: Number(torch.smCount) || 0,
        hasCompile: torch.hasCompile === true,
      },
    },
  };
}

/** Find a Python that can import torch, or throw `TrainingSetupError` with the fix. */
export async function findPython(search: PythonSearch = {}): Promise<PythonInfo> {
  const exec = search.exec ?? execCommand;
  const env = search.env ?? ((n: string) => Deno.env.get(n));
  const chosen = search.explicit?.trim() || env("SPORE_PYTHON")?.trim();
  if (chosen) {
    const source = search.explicit?.trim() ? "configured" : "SPORE_PYTHON";
    const out = await probePython(chosen, exec);
    if (out.kind === "ok") return out.info;
    if (out.kind === "missing") {
      throw new TrainingSetupError(
        "python_missing",
        `The ${source} Python "${chosen}" does not exist or cannot be run. ` +
          `Fix the path, or unset it to let Spore search for python3. ${INSTALL_HINT}`,
      );
    }
    throw new TrainingSetupError(
      "torch_missing",
      `The ${source} Python "${out.path}" cannot import torch (${out.detail}). ${INSTALL_HINT}`,
    );
  }
  const tried: string[] = [];
  const withoutTorch: string[] = [];
  for (const cand of search.candidates ?? PYTHON_CANDIDATES) {
    tried.push(cand);
    const out = await probePython(cand, exec);
    if (out.kind === "ok") return out.info;
    if (out.kind === "no_torch") withoutTorch.push(`${out.path} (${out.detail})`);
  }
  if (withoutTorch.length > 0) {
    throw new TrainingSetupError(
      "torch_missing",
      `Python was found but none can import torch: ${withoutTorch.join("; ")}. ${INSTALL_HINT}`,
    );
  }
  throw new TrainingSetupError(
    "python_missing",
    `No Python 3 interpreter found (tried ${tried.join(", ")}). Install Python 3 with PyTorch ` +
      `(Debian/Ubuntu: \`sudo apt-get install python3-torch\`), or point Spore at one with ` +
      `--python PATH or SPORE_PYTHON=PATH.`,
  );
}
