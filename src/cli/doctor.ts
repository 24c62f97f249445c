/**
 * `spore doctor`: check Python, torch, the device, CPU math speed, bubblewrap, the prepared data
 * and the ports, and say how to fix each missing piece.
 * @module
 */
import type { Command } from "commander";
import { join } from "node:path";
import { ConfigError, defaultConfig, loadConfig, type SporeConfig } from "../config.ts";
import {
  checkPreparedData,
  detectNvidiaGpus,
  deviceFromTorch,
  type Exec,
  execCommand,
  findBwrap,
  findPython,
  probeSandbox,
  type PythonInfo,
  TrainingSetupError,
} from "../training/mod.ts";
import { type CommonOptions, dataDirOf, withDataDir, withJson } from "./common.ts";
import { UserError } from "./errors.ts";
import { printJson, style, table } from "./output.ts";
import { runningPid } from "./status.ts";
import {
  describeWorkspace,
  resolveWorkspaceOption,
  withWorkspaceOptions,
  type WorkspaceOptions,
} from "./workspace_options.ts";
import { dataCacheProblem, type ResolvedWorkspace } from "../training/research_workspace.ts";
import { offerResearchPackages } from "./packages.ts";

/** Outcome of one check. */
export interface Check {
  name: string;
  status: "ok" | "warn" | "fail";
  detail: string;
  /** What to do about it (empty when ok). */
  fix: string;
}

/** Options of `spore doctor`. */
export interface DoctorOptions extends CommonOptions, WorkspaceOptions {
  python?: string;
  /** Install missing system packages (apt-get; root or passwordless sudo) before checking. */
  fix?: boolean;
}

/**
 * Below this a CPU baseline takes minutes instead of well under one: on the 2-core development
 * machine OpenBLAS measures ~54 GFLOP/s here (baseline 34 s), Debian's reference BLAS ~6
 * (baseline 5.4 min).
 */
const SLOW_GFLOPS = 10;

async function checkPython(
  explicit: string | undefined,
  exec: Exec,
): Promise<[Check, PythonInfo | null]> {
  try {
    const py = await findPython({ explicit, exec });
    return [{
      name: "python + torch",
      status: "ok",
      detail: `${py.path} (Python ${py.version}), torch ${py.torch.version}`,
      fix: "",
    }, py];
  } catch (e) {
    if (!(e instanceof TrainingSetupError)) throw e;
    return [{ name: "python + torch", status: "fail", detail: e.problem, fix: e.message }, null];
  }
}

async function checkDevice(py: PythonInfo | null, exec: Exec): Promise<Check> {
  const smi = await detectNvidiaGpus(exec);
  if (!py) {
    return {
      name: "device",
      status: "warn",
      detail: smi.length
        ? `nvidia-smi: ${smi.map((g) => g.name).join(", ")}`
        : "unknown (no torch)",
      fix: "fix python + torch first",
    };
  }
  const dev = deviceFromTorch(py.torch);
  const firstGpu = smi[0];
  if (dev.kind === "cpu" && firstGpu !== undefined) {
    return {
      name: "device",
      status: "warn",
      detail: `torch cannot use ${firstGpu.name}: training runs on CPU`,
      fix: "install a CUDA build of PyTorch (https://pytorch.org/get-started/locally/)",
    };
  }
  const extra = dev.kind === "cpu" ? " (fixed step count, exact CPU-class results)" : "";
  return {
    name: "device",
    status: "ok",
    detail: `${dev.deviceName}, class ${dev.gpuClass}${extra}`,
    fix: "",
  };
}

/** Reference BLAS makes CPU training ~10x slower; measure instead of guessing the library. */
async function checkCpuSpeed(py: PythonInfo, exec: Exec): Promise<Check> {
  const code = "import time, torch\na = torch.randn(512, 512)\na @ a\nt = time.perf_counter()\n" +
    "for _ in range(10):\n    a @ a\nprint(10 * 2 * 512**3 / (time.perf_counter() - t) / 1e9)";
  const res = await exec(py.path, ["-c", code], { timeoutMs: 60_000 });
  const gflops = res?.code === 0 ? Number(res.stdout.trim()) : NaN;
  if (!Number.isFinite(gflops)) {
    return { name: "cpu matmul", status: "warn", detail: "could not measure", fix: "" };
  }
  const detail = `${gflops.toFixed(1)} GFLOP/s`;
  if (gflops >= SLOW_GFLOPS) return { name: "cpu matmul", status: "ok", detail, fix: "" };
  return {
    name: "cpu matmul",
    status: "warn",
    detail: `${detail}: a default CPU run will take minutes instead of well under one`,
    fix: "install an optimized BLAS: `sudo apt-get install libopenblas0-pthread` (Debian/Ubuntu)",
  };
}

async function checkBwrap(py: PythonInfo | null, dataDir: string, exec: Exec): Promise<Check> {
  let bwrap: string;
  try {
    bwrap = await findBwrap(exec);
  } catch (e) {
    if (!(e instanceof TrainingSetupError)) throw e;
    return { name: "sandbox (bwrap)", status: "fail", detail: "bwrap not found", fix: e.message };
  }
  if (!py) {
    return {
      name: "sandbox (bwrap)",
      status: "warn",
      detail: `${bwrap} found, untested`,
      fix: "fix python + torch first",
    };
  }
  try {
    await probeSandbox({ bwrap, python: py, dataDir, exec });
    return {
      name: "sandbox (bwrap)",
      status: "ok",
      detail: `${bwrap} works (no network, no home)`,
      fix: "",
    };
  } catch (e) {
    if (!(e instanceof TrainingSetupError)) throw e;
    return {
      name: "sandbox (bwrap)",
      status: "fail",
      detail: "bwrap cannot start a sandbox",
      fix: e.message,
    };
  }
}

async function checkData(py: PythonInfo | null, dataDir: string, exec: Exec): Promise<Check> {
  if (!py) {
    return {
      name: "training data",
      status: "warn",
      detail: "unknown (no python)",
      fix: "fix python + torch first",
    };
  }
  const cacheDir = Deno.env.get("SPORE_CACHE_DIR") ?? join(dataDir, "cache");
  const problem = await checkPreparedData({
    python: py.path,
    cacheDir,
    dataset: Deno.env.get("SPORE_DATASET"),
    timeoutMs: 60_000,
    exec,
  });
  if (problem === null) {
    return { name: "training data", status: "ok", detail: `prepared in ${cacheDir}`, fix: "" };
  }
  return {
    name: "training data",
    status: "warn",
    detail: problem,
    fix: "it is prepared automatically before the first run (`spore train` does it now)",
  };
}

function checkPort(
  label: string,
  host: string,
  port: number,
  nodeRunning: boolean,
): Check {
  const name = `${label} port ${port}`;
  try {
    const l = Deno.listen({ hostname: host, port });
    l.close();
    return { name, status: "ok", detail: `free on ${host}`, fix: "" };
  } catch (e) {
    if (nodeRunning) return { name, status: "ok", detail: "in use by the running node", fix: "" };
    return {
      name,
      status: "fail",
      detail: `cannot listen on ${host}:${port} (${(e as Error).name})`,
      fix: "stop whatever uses it, or choose another port in config.toml",
    };
  }
}

/** Load config.toml: a file that does not load is a failed check, and the defaults are used. */
export async function checkConfig(dataDir: string): Promise<[Check, SporeConfig]> {
  const name = "config.toml";
  try {
    const config = await loadConfig(dataDir);
    const warnings = config.warnings ?? [];
    if (warnings.length === 0) return [{ name, status: "ok", detail: "loads", fix: "" }, config];
    return [{
      name,
      status: "warn",
      detail: `${warnings.length} ignored key(s)`,
      fix: warnings.join("\n"),
    }, config];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return [
      { name, status: "fail", detail: "does not load (defaults used below)", fix: e.message },
      defaultConfig(dataDir),
    ];
  }
}

/**
 * The research workspace's checks (`--workspace` or config `workspace`): its class, and whether
 * its prepared data is where its prepare.py looks. Empty without a workspace or for one with the
 * embedded prepare.py (the "training data" check covers that).
 */
export async function checkWorkspace(
  dataDir: string,
  config: SporeConfig,
  opts: WorkspaceOptions,
): Promise<Check[]> {
  let ws: ResolvedWorkspace | undefined;
  try {
    ws = await resolveWorkspaceOption(opts, config, dataDir);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return [{ name: "workspace", status: "fail", detail: "not usable", fix: e.message }];
  }
  if (!ws || ws.embedded) return [];
  const checks: Check[] = [{
    name: "workspace",
    status: "ok",
    detail: describeWorkspace(ws),
    fix: "",
  }];
  const problem = await dataCacheProblem(ws, ws.dataCache);
  checks.push(
    problem ? { name: "workspace data", status: "fail", detail: "not prepared", fix: problem } : {
      name: "workspace data",
      status: "ok",
      detail: ws.dataCache ? `prepared in ${ws.dataCache}` : "prepare.py reads no home cache",
      fix: "",
    },
  );
  return checks;
}

/** Run every check (exported for tests). */
export async function runDoctor(
  dataDir: string,
  config: SporeConfig,
  opts: { python?: string | undefined; exec?: Exec; workspace?: WorkspaceOptions } = {},
): Promise<Check[]> {
  const exec = opts.exec ?? execCommand;
  const [pyCheck, py] = await checkPython(opts.python ?? config.python, exec);
  const checks = [pyCheck, await checkDevice(py, exec)];
  if (py && !py.torch.cudaAvailable && !py.torch.mpsAvailable) {
    checks.push(await checkCpuSpeed(py, exec));
  }
  const workspace = await checkWorkspace(dataDir, config, opts.workspace ?? {});
  checks.push(await checkBwrap(py, dataDir, exec));
  // A foreign workspace brings its own data: the embedded data's check would be beside the point.
  checks.push(...(workspace.length ? workspace : [await checkData(py, dataDir, exec)]));
  const running = (await runningPid(dataDir)) !== undefined;
  checks.push(checkPort("gossip", config.host, config.port, running));
  checks.push(checkPort("explorer", config.web_host, config.web_port, running));
  return checks;
}

/** Register `doctor`. */
export function registerDoctor(program: Command): void {
  const cmd = program
    .command("doctor")
    .description("check python, torch, GPU, sandbox, data and ports, and how to fix each")
    .option(
      "--python <path>",
      "Python interpreter to check (default: config, SPORE_PYTHON, python3)",
    )
    .option(
      "--fix",
      "install missing system packages (python3-torch, libopenblas0-pthread, bubblewrap) " +
        "with apt-get, without asking",
    );
  withJson(withDataDir(withWorkspaceOptions(cmd))).action(async (opts: DoctorOptions) => {
    const dataDir = dataDirOf(opts);
    // A broken config.toml is one failed check, not the end of the report.
    const [configCheck, config] = await checkConfig(dataDir);
    if (opts.fix) {
      // With --json the installer's lines go to stderr so stdout stays one JSON document.
      const print = opts.json ? (l: string) => console.error(l) : (l: string) => console.log(l);
      await offerResearchPackages({ print }, opts.python ?? config.python);
    }
    const checks = [
      configCheck,
      ...await runDoctor(dataDir, config, { python: opts.python, workspace: opts }),
    ];
    if (opts.json) {
      printJson({ ok: checks.every((c) => c.status !== "fail"), checks });
    } else {
      const mark = {
        ok: style("green", "ok"),
        warn: style("yellow", "warn"),
        fail: style("red", "FAIL"),
      };
      console.log(
        table(["check", "status", "detail"], checks.map((c) => [c.name, mark[c.status], c.detail])),
      );
      for (const c of checks.filter((c) => c.fix)) {
        console.log(`\n${style("bold", c.name)}: ${c.fix}`);
      }
    }
    const failed = checks.filter((c) => c.status === "fail").length;
    if (failed) {
      throw new UserError(
        `${failed} check(s) failed; see the fixes above` +
          (opts.fix ? "" : " (`spore doctor --fix` installs missing system packages)"),
      );
    }
  });
}
