/**
 * `spore run`: start a node. Research mode (default) runs experiments and verifies peers;
 * `--verify-only` only verifies and answers challenges; `--no-train` syncs and relays. Every mode
 * joins the network, serves artifacts and the explorer, and applies reputation events.
 * `--genesis` starts without any peer.
 * @module
 */
import { type Command, Option } from "commander";
import {
  dataPaths,
  ensureConfigFile,
  loadConfig,
  resolveDataDir,
  type SporeConfig,
} from "../config.ts";
import { type RunMode, type RunningNode, startNode, type TrainingInfo } from "../app.ts";
import type { Trainer } from "../node_types.ts";
import { type LogLevel, parseLogLevel } from "../ops/log.ts";
import type { ProgressEvent } from "../training/runner.ts";
import type { MemoryLimit } from "../training/memory.ts";
import { renderProgress } from "./train.ts";
import { memoryLimitFlag, portNumber, positiveInt } from "./common.ts";
import { UserError } from "./errors.ts";
import { style } from "./output.ts";
import { normalizePeer } from "./peer.ts";
import { askYesNo, offerResearchPackages } from "./packages.ts";
import { StatusLine } from "./status_line.ts";
import {
  describeWorkspace,
  withWorkspaceOptions,
  type WorkspaceOptions,
} from "./workspace_options.ts";
import { classLabel } from "../protocol/mod.ts";
import { embeddedClasses } from "../training/research_workspace.ts";

/** Parsed `spore run` options (commander's `--no-x` flags arrive as `x: false`). */
export interface RunOptions extends WorkspaceOptions {
  train?: boolean;
  verifyOnly?: boolean;
  maxExperiments?: number;
  resource?: number;
  unsafeNoSandbox?: boolean;
  trainMemoryLimit?: MemoryLimit;
  python?: string;
  logLevel?: string;
  genesis?: boolean;
  port?: number;
  webPort?: number;
  host?: string;
  peer?: string[];
  dataDir?: string;
  explorer?: boolean;
  maxPeers?: number;
}

/** How a run ends: by signal in the CLI, by abort in tests. */
export interface RunControl {
  /** Resolves when the node should stop (default: first SIGINT or SIGTERM). */
  stopped?: Promise<void>;
  /** Where banner and progress lines go (default: stdout). */
  print?: (line: string) => void;
  /** Progress line period in ms (default 1000 on a TTY, 10000 otherwise). */
  progressMs?: number;
  /** Force TTY-style progress on or off (default: stdout.isTerminal()). */
  tty?: boolean;
  /** First `no peers connected` warning after this long (default 30 s; tests shorten it). */
  aloneWarnMs?: number;
}

function resourcePercent(value: string): number {
  const n = Number(value);
  if (!/^\d{1,3}$/.test(value) || n < 1 || n > 100) {
    throw new UserError(`--resource must be a percentage from 1 to 100, got "${value}"`);
  }
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Register `run`. */
export function registerRun(program: Command): void {
  const cmd = program
    .command("run")
    .description("start a node: research (default), verify-only or sync-only, with the explorer")
    .option("--no-train", "sync-only: relay and store the graph, run no experiments")
    .option("--verify-only", "verify others' results and answer challenges; no research")
    .addOption(new Option("--max-experiments <n>", "stop after this many experiments")
      .argParser(positiveInt("--max-experiments")))
    .addOption(
      new Option("-r, --resource <percent>", "share of the device to use, 1-100 (default 100)")
        .argParser(resourcePercent),
    )
    .option(
      "--python <path>",
      "Python interpreter with torch (default: config, $SPORE_PYTHON, python3)",
    )
    .option("--unsafe-no-sandbox", "train without bubblewrap (only for code you trust)")
    .addOption(
      new Option(
        "--train-memory-limit <limit>",
        "memory limit of each training run: 50%, 4096MiB, 8GiB or none " +
          "(default: config train_memory_limit, else 50% of RAM)",
      ).argParser(memoryLimitFlag),
    )
    .option(
      "--log-level <level>",
      "log file detail: debug, info, warn, error (default: $SPORE_LOG or info)",
    )
    .option("--genesis", "start a new network: dial no peers (others may still connect)")
    .addOption(new Option("-p, --port <port>", "gossip port (default: config.toml, else 7470)")
      .argParser(portNumber("--port")))
    .addOption(
      new Option("-w, --web-port <port>", "explorer port (default: config.toml, else 8470)")
        .argParser(portNumber("--web-port")),
    )
    .option("--host <host>", "address to listen on (default: config.toml, else 0.0.0.0)")
    .option(
      "-c, --peer <host:port>",
      "peer to dial, in addition to config.toml (repeatable)",
      collect,
    )
    .option("-d, --data-dir <dir>", "data directory (default: $SPORE_HOME or ~/.spore)")
    .option("--no-explorer", "do not serve the web explorer")
    .addOption(new Option("--max-peers <n>", "most simultaneous peer connections (default 64)")
      .argParser(positiveInt("--max-peers")));
  withWorkspaceOptions(cmd).action(async (opts: RunOptions) => {
    await runNode(opts);
  });
}

/** Resolve on the first SIGINT or SIGTERM; `dispose` stops listening. */
function stopSignal(): { stopped: Promise<void>; dispose(): void } {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  let resolve!: () => void;
  const stopped = new Promise<void>((r) => (resolve = r));
  const stop = () => {
    dispose();
    resolve();
  };
  const dispose = () => {
    for (const s of signals) Deno.removeSignalListener(s, stop);
  };
  for (const s of signals) Deno.addSignalListener(s, stop);
  return { stopped, dispose };
}

/** Peers to dial: config.toml's plus `--peer`s, normalized and deduplicated. */
export function peersToDial(config: SporeConfig, opts: RunOptions): string[] {
  // Validated even with --genesis, so a typo is reported rather than silently ignored.
  const flagged = (opts.peer ?? []).map(normalizePeer);
  if (opts.genesis) return [];
  return [...new Set([...config.peer, ...flagged])];
}

/** A person can answer questions: both stdin and stdout are terminals. */
function isInteractive(): boolean {
  return Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
}

/** Start a node with `opts`, print its banner and progress, and stop it cleanly. */
export async function runNode(opts: RunOptions, control: RunControl = {}): Promise<void> {
  const status = new StatusLine({
    tty: control.tty ?? stdoutIsTerminal(),
    print: control.print ?? ((line: string) => console.log(line)),
  });
  const print = status.log;
  const dataDir = resolveDataDir(opts.dataDir);
  const config = await loadConfig(dataDir);
  const logLevel = parseLevel(opts.logLevel ?? Deno.env.get("SPORE_LOG") ?? "info");
  const peers = peersToDial(config, opts);
  const mode: RunMode = opts.verifyOnly
    ? "verify-only"
    : opts.train === false
    ? "sync-only"
    : "research";
  const host = opts.host ?? config.host;
  const port = opts.port ?? config.port;
  // Listen from the start: a SIGTERM while the node is still starting (`spore stop` right
  // after `spore start`) must still end in a clean shutdown, not the default kill.
  const signal = control.stopped ? undefined : stopSignal();
  const stopped = control.stopped ?? signal!.stopped;
  // A run still training when the node is told to stop is interrupted, not done.
  let stopping = false;
  stopped.then(() => (stopping = true));
  let app: RunningNode;
  try {
    if (await ensureConfigFile(dataDir)) {
      print(`config: wrote the defaults to ${dataPaths(dataDir).config}`);
    }
    for (const w of config.warnings ?? []) print(style("yellow", `config: ${w}`));
    app = await startNode({
      dataDir,
      config,
      mode,
      host,
      port,
      peers,
      genesis: opts.genesis,
      maxPeers: opts.maxPeers,
      logLevel,
      explorer: opts.explorer,
      webPort: opts.webPort,
      aloneWarnMs: control.aloneWarnMs,
      maxExperiments: opts.maxExperiments,
      training: {
        python: opts.python,
        unsafeNoSandbox: opts.unsafeNoSandbox,
        memoryLimit: opts.trainMemoryLimit,
        resource: opts.resource,
        onProgress: trainingProgress(status, () => stopping),
        workspace: opts.workspace,
        datasetCid: opts.datasetCid,
        dataCache: opts.dataCache,
      },
      say: print,
      // One y/N question on a terminal for what research needs; elsewhere the node falls back
      // to sync-only and says which command installs it.
      beforeTraining: opts.train !== false && isInteractive()
        ? () => offerResearchPackages({ print, ask: askYesNo }, opts.python ?? config.python)
        : undefined,
    });
  } catch (e) {
    signal?.dispose();
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UserError(`port ${port} on ${host} is in use: pick another with --port`);
    }
    throw e;
  }
  const published = countPublished(app);
  try {
    if (app.fallbackReason !== undefined) {
      print(style("yellow", `${mode} mode unavailable: ${app.fallbackReason}`));
      print(
        style(
          "yellow",
          "falling back to sync-only: this node syncs and relays but does not train.",
        ),
      );
    }
    printBanner(print, {
      nodeId: app.keys.nodeId,
      created: app.newIdentity,
      dataDir,
      listen: `${host}:${app.node.port}`,
      explorer: app.explorer?.url ??
        (opts.explorer === false
          ? "off (--no-explorer)"
          : `off: ${app.explorerError ?? "not started"}`),
      // Dials are under way, nothing is connected yet: say so rather than list them as peers.
      peers: opts.genesis
        ? "none (genesis): others may connect"
        : `connecting to ${
          peers.length ? peers.join(", ") : `bootstrap ${config.bootstrap.join(", ") || "(none)"}`
        }`,
      mode: app.mode,
      training: app.mode === "sync-only" ? "off" : await describeTrainer(app.trainer),
      research: app.training ? await describeResearch(app.training) : undefined,
    });
    // Research mode ends when its experiments are done (--max-experiments). A research failure
    // never stops the node: it was said, with what to fix, and syncing and verifying go on.
    const ended = app.research?.then(
      (s) => s.stopReason === "done" ? undefined : new Promise<void>(() => {}),
      (e) => {
        print(style("yellow", `research failed: ${(e as Error)?.message ?? e}`));
        return new Promise<void>(() => {});
      },
    );
    await showProgress(app, ended ? Promise.race([stopped, ended]) : stopped, status, control);
  } finally {
    stopping = true;
    status.close();
    print("stopping: storing everything received...");
    await app.close();
    signal?.dispose();
    const s = app.node.stats();
    print(
      `stopped. ${published()} published by this node, ${s.stored} records stored from peers ` +
        `(${s.received} received).`,
    );
  }
}

function parseLevel(text: string): LogLevel {
  try {
    return parseLogLevel(text);
  } catch (e) {
    throw new UserError(`--log-level: ${(e as Error).message}`);
  }
}

/** Banner lines of the research workspace, class and compile policy. */
async function describeResearch(t: TrainingInfo): Promise<[string, string][]> {
  const lines: [string, string][] = [];
  if (t.workspace) lines.push(["workspace", describeWorkspace(t.workspace)]);
  lines.push(["class", classLabel(t.researchClass, await embeddedClasses())]);
  lines.push(["compile", t.compile.disabled ? `off: ${t.compile.why ?? "disabled"}` : "on"]);
  return lines;
}

async function describeTrainer(trainer: Trainer): Promise<string> {
  const env = await trainer.environment();
  return `${env.gpuClass} (torch ${env.torchVersion})`;
}

/** Records this node publishes while it runs (its own, not those received from peers). */
function countPublished({ node }: RunningNode): () => number {
  let n = 0;
  node.events.on((e) => {
    if (e.kind === "experiment" && e.source === "local") n++;
  });
  return () => n;
}

/** Training progress on the status line; the end of a run as one line of its own. */
function trainingProgress(
  status: StatusLine,
  stopping: () => boolean,
): (label: string, e: ProgressEvent) => void {
  return (label, e) => {
    if (e.phase !== "done") {
      return status.progress({
        label,
        text: renderProgress(e),
        phase: e.phase,
        percent: e.progress?.percent,
      });
    }
    status.progress(undefined);
    const secs = e.elapsedSeconds.toFixed(0);
    status.log(
      stopping()
        ? `  [${label}] interrupted after ${secs}s (not published)`
        : `  [${label}] ${renderProgress(e)}`,
    );
  };
}

function stdoutIsTerminal(): boolean {
  try {
    return Deno.stdout.isTerminal();
  } catch {
    return false;
  }
}

function printBanner(
  print: (l: string) => void,
  b: {
    nodeId: string;
    created: boolean;
    dataDir: string;
    listen: string;
    explorer: string;
    peers: string;
    mode: RunMode;
    training: string;
    research?: [string, string][] | undefined;
  },
): void {
  print(style("bold", "spore node") + ` (${b.mode})`);
  print(`  node id   ${b.nodeId}${b.created ? style("dim", " (new identity)") : ""}`);
  print(`  data dir  ${b.dataDir}`);
  print(`  gossip    ${b.listen}`);
  print(`  explorer  ${b.explorer}`);
  print(`  peers     ${b.peers}`);
  print(`  training  ${b.training}`);
  for (const [k, v] of b.research ?? []) print(`  ${k.padEnd(9)} ${v}`);
  print(`  mode      ${b.mode} (Ctrl-C to stop)`);
}

async function showProgress(
  { node }: RunningNode,
  stopped: Promise<void>,
  status: StatusLine,
  control: RunControl,
): Promise<void> {
  const tty = control.tty ?? stdoutIsTerminal();
  const period = control.progressMs ?? (tty ? 1000 : 10_000);
  let last = node.stats();
  let lastAt = performance.now();
  let lastLine = "";
  const timer = setInterval(() => {
    const now = performance.now();
    const s = node.stats();
    const rate = (s.stored - last.stored) / ((now - lastAt) / 1000);
    last = s;
    lastAt = now;
    const line = `peers ${s.peers} · graph ${node.stores.graph.count()} · received ` +
      `${s.received} · stored ${s.stored} (${rate.toFixed(0)}/s)`;
    if (tty) status.network(line);
    else if (line !== lastLine) status.network(`${new Date().toISOString()} ${line}`);
    lastLine = line;
  }, period);
  try {
    await stopped;
  } finally {
    clearInterval(timer);
  }
}
