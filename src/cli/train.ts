/**
 * `spore train [FILE]`: one sandboxed training of the workspace's train.py (or FILE), with a
 * progress bar, then the parsed result.
 * @module
 */
import { type Command, Option } from "commander";
import { join } from "node:path";
import { dataPaths, loadConfig, trainMemoryLimit } from "../config.ts";
import { ensureUserWorkspace } from "../training/trainer.ts";
import { sha256Hex } from "../protocol/mod.ts";
import {
  type MemoryLimit,
  type ProgressEvent,
  TrainingRuntime,
  TrainingSetupError,
  type TrainResult,
} from "../training/mod.ts";
import {
  type CommonOptions,
  dataDirOf,
  memoryLimitFlag,
  positiveInt,
  withDataDir,
  withJson,
} from "./common.ts";
import { UserError } from "./errors.ts";
import {
  describeWorkspace,
  resolveWorkspaceOption,
  withWorkspaceOptions,
  type WorkspaceOptions,
} from "./workspace_options.ts";
import { printJson, safeText, style, table } from "./output.ts";

/** Options of `spore train`. */
export interface TrainOptions extends CommonOptions, WorkspaceOptions {
  timeBudget?: number;
  maxSteps?: number;
  resource?: number;
  timeout?: number;
  python?: string;
  unsafeNoSandbox?: boolean;
  trainMemoryLimit?: MemoryLimit;
  verbose?: boolean;
}

/** A train.py larger than this is not a training script. */
const MAX_TRAIN_PY_BYTES = 1 << 20;

function percentOption(value: string): number {
  const n = positiveInt("--resource")(value);
  if (n > 100) throw new Error(`--resource must be 1-100, got "${value}"`);
  return n;
}

/** One-line progress display: `[#####-----]  50.0% step 75 | loss 1.62 | 7,100 tok/s | ETA 35s`. */
export function renderProgress(e: ProgressEvent, width = 24): string {
  const retry = e.retry ? " (retry without compile)" : "";
  if (e.phase === "starting") return `starting train.py${retry}... ${e.elapsedSeconds.toFixed(0)}s`;
  if (e.phase === "evaluating") return `evaluating val_bpb...${retry}`;
  if (e.phase === "done" || !e.progress) return `done in ${e.elapsedSeconds.toFixed(0)}s`;
  const p = e.progress;
  const pct = Math.min(100, Math.max(0, p.percent));
  const filled = Math.round((pct / 100) * width);
  const parts = [
    `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${pct.toFixed(1).padStart(5)}%`,
    `step ${p.step}`,
    `loss ${p.loss.toFixed(4)}`,
  ];
  if (p.tokPerSec !== undefined) {
    parts.push(`${Math.round(p.tokPerSec).toLocaleString("en-US")} tok/s`);
  }
  if (p.remainingSeconds !== undefined) parts.push(`ETA ${Math.round(p.remainingSeconds)}s`);
  if (e.slow) {
    parts.push(
      `too slow: needs ~${e.slow.projectedSeconds}s, limit ${e.slow.limitSeconds}s (will stop)`,
    );
  }
  return parts.join(" | ") + retry;
}

/** Draws progress on stderr: redrawn in place on a terminal, every 10% otherwise. */
function progressPrinter(): (e: ProgressEvent) => void {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let lastDecile = -1;
  return (e) => {
    const line = renderProgress(e);
    if (tty) {
      Deno.stderr.writeSync(enc.encode(`\r\x1b[2K${line}${e.phase === "done" ? "\n" : ""}`));
      return;
    }
    const decile = e.progress ? Math.floor(e.progress.percent / 10) : -1;
    if (e.phase !== "training" || decile > lastDecile) {
      lastDecile = Math.max(lastDecile, decile);
      console.error(line);
    }
  };
}

async function readCode(
  file: string | undefined,
  workspaceDir: string,
): Promise<{ path: string; code: Uint8Array }> {
  const path = file ?? join(workspaceDir, "train.py");
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (!info.isFile) throw new UserError(`${path} is not a file`);
  if (info.size > MAX_TRAIN_PY_BYTES) {
    throw new UserError(`${path} is ${info.size} bytes; a train.py must be under 1 MiB`);
  }
  return { path, code: await Deno.readFile(path) };
}

/** The JSON shape printed by `spore train --json`. */
export function resultJson(
  r: TrainResult,
  rt: TrainingRuntime,
  codeCid: string,
): Record<string, unknown> {
  const common = {
    code_cid: codeCid,
    dataset_cid: rt.data.datasetCid,
    prepare_cid: rt.data.prepareCid,
    gpu_model: rt.device.gpuModel,
    gpu_class: rt.device.gpuClass,
    cuda_version: rt.device.cudaVersion,
    torch_version: rt.device.torchVersion,
    sandboxed: rt.sandbox !== null,
    wall_seconds: Number(r.wallSeconds.toFixed(1)),
    compile_retried: r.compileRetried,
    compile_disabled: rt.compileDisabled,
  };
  if (!r.ok) {
    // A run stopped for this machine's slowness is not a crash of the code.
    const status = r.hostSlow ? "host_too_slow" : "crash";
    return { ok: false, status, kind: r.kind, reason: r.reason, ...common };
  }
  return {
    ok: true,
    val_bpb: r.metrics.valBpb,
    num_steps: r.metrics.numSteps,
    num_params: r.metrics.numParams,
    training_seconds: r.metrics.trainingSeconds,
    peak_vram_mb: r.metrics.peakVramMb,
    ...common,
  };
}

/** Register `train`. */
export function registerTrain(program: Command): void {
  const cmd = program
    .command("train")
    .description("run one sandboxed training of train.py and print val_bpb")
    .argument("[file]", "train.py to run (default: the workspace's, e.g. ~/.spore/workspace)")
    .option(
      "--time-budget <s>",
      "training seconds on a GPU (default: prepare.py's TIME_BUDGET)",
      positiveInt("--time-budget"),
    )
    .option("--max-steps <n>", "stop after N optimizer steps", positiveInt("--max-steps"))
    .option("--resource <percent>", "share of the accelerator to use, 1-100", percentOption)
    .option(
      "--timeout <s>",
      "hard timeout (default: budget + max(120 s, budget/2))",
      positiveInt("--timeout"),
    )
    .option(
      "--python <path>",
      "Python interpreter with torch (default: config, SPORE_PYTHON, python3)",
    )
    .option("-v, --verbose", "echo train.py's output")
    .addOption(
      new Option("--unsafe-no-sandbox", "run without bubblewrap: only for code you trust").default(
        false,
      ),
    )
    .addOption(
      new Option(
        "--train-memory-limit <limit>",
        "memory limit of the run: 50%, 4096MiB, 8GiB or none (default: config, else 50% of RAM)",
      ).argParser(memoryLimitFlag),
    );
  withJson(withDataDir(withWorkspaceOptions(cmd))).action(async (
    file: string | undefined,
    opts: TrainOptions,
  ) => {
    const dataDir = dataDirOf(opts);
    const config = await loadConfig(dataDir);
    const ws = await resolveWorkspaceOption(opts, config, dataDir);
    if (ws && !opts.json) console.error(style("dim", `workspace ${describeWorkspace(ws)}`));
    // Without --workspace: the data dir's copy, as `spore run` uses it (its train.py is the
    // best kept code of this node's research), created from the bundled one when missing.
    const workspaceDir = ws?.dir ?? dataPaths(dataDir).workspace;
    if (!ws) {
      const copied = await ensureUserWorkspace(workspaceDir);
      if (copied.length && !opts.json) {
        console.error(style("dim", `workspace: copied ${copied.join(", ")} to ${workspaceDir}`));
      }
    }
    const { path, code } = await readCode(file, workspaceDir);
    const codeCid = sha256Hex(code);
    if (!opts.json) console.error(style("dim", "checking python, torch, sandbox and data..."));
    let rt: TrainingRuntime;
    try {
      rt = await TrainingRuntime.create({
        dataDir,
        python: opts.python ?? config.python,
        unsafeNoSandbox: opts.unsafeNoSandbox,
        memoryLimit: opts.trainMemoryLimit ?? trainMemoryLimit(config),
        dataset: Deno.env.get("SPORE_DATASET"),
        workspaceSourceDir: workspaceDir,
        foreign: ws && !ws.embedded ? ws : undefined,
      });
    } catch (e) {
      if (e instanceof TrainingSetupError) throw new UserError(e.message);
      throw e;
    }
    const compile = rt.compile;
    if (compile.disabled && compile.why && !opts.json) {
      console.error(style("dim", `torch.compile off: ${compile.why}`));
    }
    if (!rt.sandbox && !opts.json) {
      console.error(style("yellow", "warning: running WITHOUT a sandbox (--unsafe-no-sandbox)"));
    }
    const result = await rt.train({
      code,
      label: `train ${path}`,
      timeBudgetSeconds: opts.timeBudget,
      maxSteps: opts.maxSteps,
      resource: opts.resource,
      timeoutSeconds: opts.timeout,
      onProgress: opts.json && !Deno.stderr.isTerminal() ? undefined : progressPrinter(),
      // The output is untrusted: no terminal escapes get through.
      onLine: opts.verbose ? (l) => console.error(style("dim", safeText(l, 500))) : undefined,
    });
    const out = resultJson(result, rt, codeCid);
    if (opts.json) printJson(out);
    else printHuman(out, path);
    if (!result.ok) throw new UserError(`training crashed: ${safeText(result.reason, 300)}`);
  });
}

function printHuman(out: Record<string, unknown>, path: string): void {
  const rows: string[][] = [["file", path]];
  if (out.ok) {
    rows.push(
      ["val_bpb", style("green", String(out.val_bpb))],
      ["steps", String(out.num_steps)],
      ["parameters", Number(out.num_params).toLocaleString("en-US")],
      ["training s", String(out.training_seconds)],
      ["peak VRAM MB", String(out.peak_vram_mb)],
    );
  } else {
    rows.push(["status", style("red", "crash")], ["reason", safeText(String(out.reason), 300)]);
  }
  rows.push(
    ["wall s", String(out.wall_seconds)],
    ["device", `${out.gpu_model} (class ${out.gpu_class})`],
    [
      "torch",
      `${out.torch_version}${
        /^\d/.test(String(out.cuda_version)) ? ` / CUDA ${out.cuda_version}` : ""
      }`,
    ],
    ["sandboxed", out.sandboxed ? "yes" : style("yellow", "NO")],
    ["code_cid", String(out.code_cid)],
    ["dataset_cid", String(out.dataset_cid)],
    ["prepare_cid", String(out.prepare_cid)],
  );
  console.log(table(["", ""], rows));
}
