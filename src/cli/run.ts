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
  ensureIdentity,
  loadConfig,
  loadKnownPeers,
  resolveDataDir,
  type SporeConfig,
} from "../config.ts";
import { join } from "node:path";
import { SporeNode } from "../node.ts";
import type { NodeEvent, NodeHandle, Trainer } from "../node_types.ts";
import type { ControlHandler } from "../net/mod.ts";
import { acquireDataDirLock, type DataDirLock } from "../ops/lock.ts";
import { FileLogger, type LogLevel, parseLogLevel } from "../ops/log.ts";
import { type MetricsSource, NodeMetrics } from "../ops/node_metrics.ts";
import { TrainingRuntime, TrainingSetupError } from "../training/mod.ts";
import type { ProgressEvent } from "../training/runner.ts";
import { renderProgress } from "./train.ts";
import { ensureUserWorkspace, NoTrainer, RuntimeTrainer } from "../training/trainer.ts";
import { Verifier, verifierSettings } from "../verify/mod.ts";
import { runResearch } from "./research_run.ts";
import { positiveInt } from "./common.ts";
import { UserError } from "./errors.ts";
import { style } from "./output.ts";
import { normalizePeer } from "./peer.ts";
import { askYesNo, offerResearchPackages } from "./packages.ts";

/** Parsed `spore run` options (commander's `--no-x` flags arrive as `x: false`). */
export interface RunOptions {
  train?: boolean;
  verifyOnly?: boolean;
  maxExperiments?: number;
  resource?: number;
  unsafeNoSandbox?: boolean;
  python?: string;
  logLevel?: string;
  genesis?: boolean;
  port?: number;
  host?: string;
  peer?: string[];
  dataDir?: string;
  explorer?: boolean;
  maxPeers?: number;
}

/** A started explorer, as the run command needs it. */
export interface RunExplorer {
  url: string;
  close(): Promise<void>;
}

/** Extension points the lead wires in (the explorer lives in another part of the tree). */
export interface RunHooks {
  /** Start the web explorer for the node; omitted: no explorer. */
  startExplorer?(
    node: NodeHandle,
    opts: { host: string; port: number; metrics?: MetricsSource },
  ): Promise<RunExplorer>;
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
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65535) {
    throw new UserError(`--port must be a number from 0 to 65535, got "${value}"`);
  }
  return n;
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
export function registerRun(program: Command, hooks: RunHooks = {}): void {
  program
    .command("run")
    .description("start a node: research (default), verify-only or sync-only, with the explorer")
    .option("--no-train", "sync-only: relay and store the graph, run no experiments")
    .option("--verify-only", "verify others' results and answer challenges; no research")
    .addOption(new Option("--max-experiments <n>", "stop after this many experiments")
      .argParser(positiveInt("--max-experiments")))
    .addOption(new Option("--resource <percent>", "share of the device to use, 1-100 (default 100)")
      .argParser(resourcePercent))
    .option(
      "--python <path>",
      "Python interpreter with torch (default: config, $SPORE_PYTHON, python3)",
    )
    .option("--unsafe-no-sandbox", "train without bubblewrap (only for code you trust)")
    .option(
      "--log-level <level>",
      "log file detail: debug, info, warn, error (default: $SPORE_LOG or info)",
    )
    .option("--genesis", "start a new network: dial no peers (others may still connect)")
    .addOption(new Option("--port <port>", "gossip port (default: config.toml, else 7470)")
      .argParser(parsePort))
    .option("--host <host>", "address to listen on (default: config.toml, else 0.0.0.0)")
    .option("--peer <host:port>", "peer to dial, in addition to config.toml (repeatable)", collect)
    .option("--data-dir <dir>", "data directory (default: $SPORE_HOME or ~/.spore)")
    .option("--no-explorer", "do not serve the web explorer")
    .addOption(new Option("--max-peers <n>", "most simultaneous peer connections (default 64)")
      .argParser(positiveInt("--max-peers")))
    .action(async (opts: RunOptions) => {
      await runNode(opts, hooks);
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

/** The mode a node runs in. */
export type RunMode = "research" | "verify-only" | "sync-only";

/** Start a node with `opts`, print its banner and progress, and stop it cleanly. */
export async function runNode(
  opts: RunOptions,
  hooks: RunHooks = {},
  control: RunControl = {},
): Promise<void> {
  const print = control.print ?? ((line: string) => console.log(line));
  const dataDir = resolveDataDir(opts.dataDir);
  const config = await loadConfig(dataDir);
  const level = parseLevel(opts.logLevel ?? Deno.env.get("SPORE_LOG") ?? "info");
  // Listen from the start: a SIGTERM while the node is still starting (`spore stop` right
  // after `spore start`) must still end in a clean shutdown, not the default kill.
  const signal = control.stopped ? undefined : stopSignal();
  if (signal) control = { ...control, stopped: signal.stopped };
  let lock: DataDirLock;
  try {
    lock = acquireDataDirLock(dataDir);
  } catch (e) {
    signal?.dispose();
    throw e;
  }
  const log = new FileLogger({ dir: dataPaths(dataDir).log, level });
  const held = lock;
  const cleanup: (() => Promise<void> | void)[] = [
    () => signal?.dispose(),
    () => log.close(),
    () => held.release(),
  ];
  try {
    // One y/N question on a terminal for what research needs; elsewhere the node falls back to
    // sync-only and says which command installs it.
    if (opts.train !== false && isInteractive()) {
      await offerResearchPackages({ print, ask: askYesNo }, opts.python ?? config.python);
    }
    await runLocked(opts, hooks, control, { dataDir, config, log, print, cleanup });
  } finally {
    for (const fn of cleanup.reverse()) await fn();
  }
}

interface RunContext {
  dataDir: string;
  config: SporeConfig;
  log: FileLogger;
  print: (line: string) => void;
  /** Run in reverse order at exit. */
  cleanup: (() => Promise<void> | void)[];
}

function parseLevel(text: string): LogLevel {
  try {
    return parseLogLevel(text);
  } catch (e) {
    throw new UserError(`--log-level: ${(e as Error).message}`);
  }
}

async function runLocked(
  opts: RunOptions,
  hooks: RunHooks,
  control: RunControl,
  ctx: RunContext,
): Promise<void> {
  const { dataDir, config, log, print } = ctx;
  const { keys, created } = await ensureIdentity(dataDir);
  let mode: RunMode = opts.verifyOnly
    ? "verify-only"
    : opts.train === false
    ? "sync-only"
    : "research";
  const peers = peersToDial(config, opts);
  const host = opts.host ?? config.host;
  const port = opts.port ?? config.port;

  let trainer: Trainer = new NoTrainer("this node does not train (sync-only)");
  let timeBudget: number | undefined;
  const workspaceDir = join(dataDir, "workspace");
  if (mode !== "sync-only") {
    try {
      const copied = await ensureUserWorkspace(workspaceDir);
      if (copied.length) print(`workspace: copied ${copied.join(", ")} to ${workspaceDir}`);
      print("preparing training (python, torch, sandbox, data)...");
      const runtime = await TrainingRuntime.create({
        dataDir,
        python: opts.python ?? config.python,
        unsafeNoSandbox: opts.unsafeNoSandbox,
        workspaceSourceDir: workspaceDir,
      });
      const rt = new RuntimeTrainer(runtime, {
        resource: opts.resource,
        workspaceDir,
        onProgress: trainingProgress(control),
      });
      trainer = rt;
      timeBudget = rt.timeBudget;
    } catch (e) {
      if (!(e instanceof TrainingSetupError)) throw e;
      print(style("yellow", `${mode} mode unavailable: ${e.message}`));
      print(
        style(
          "yellow",
          "falling back to sync-only: this node syncs and relays but does not train.",
        ),
      );
      log.warn("mode fallback", { mode, reason: e.message });
      mode = "sync-only";
    }
  }

  const settings = verifierSettings(config, (n) => Deno.env.get(n));
  // The verifier needs the running node (to fetch code and broadcast) and the node needs a
  // control handler at start: bind late. Events before start are logged and replayed by it.
  const late: { verifier?: Verifier } = {};
  const handler: ControlHandler = {
    onControl: (event, from) => late.verifier?.onControl(event, from) ?? Promise.resolve(),
  };
  const node = await SporeNode.start({
    dataDir,
    keys,
    host,
    port,
    peers,
    bootstrap: opts.genesis ? [] : config.bootstrap,
    knownPeers: opts.genesis ? [] : await loadKnownPeers(dataDir),
    maxPeers: opts.maxPeers ?? config.max_peers,
    genesis: opts.genesis,
    control: handler,
    acceptUnsigned: settings.acceptUnsigned,
  }).catch((e) => {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UserError(`port ${port} on ${host} is in use: pick another with --port`);
    }
    throw e;
  });
  // Attached right after start: only a dial's first hello can precede it.
  const metrics = new NodeMetrics({ log });
  metrics.attach(node, dataDir);
  ctx.cleanup.push(() => metrics.close());
  ctx.cleanup.push(async () => {
    print("stopping: storing everything received...");
    await node.close();
    const s = node.stats();
    print(`stopped. ${s.stored} records stored this run (${s.received} received).`);
    log.info("node stopped", { ...s });
  });
  node.events.on((e) => logNodeEvent(log, e));

  const v = late.verifier = Verifier.open(dataDir, {
    nodeId: keys.nodeId,
    seed: keys.seed,
    graph: node.stores.graph,
    reputation: node.stores.reputation,
    control: node.stores.control,
    trainer,
    fetchCode: (cid) => node.fetchArtifact(cid),
    broadcast: (ev) => node.broadcastControl(ev).then(() => undefined),
    ...settings,
    spotCheckRate: mode === "sync-only" ? 0 : settings.spotCheckRate,
    log: (lvl, msg) => log.log(lvl, msg, { part: "verify" }),
  });
  ctx.cleanup.push(() => v.close());
  await v.start();
  node.events.on((e) => {
    if (e.kind === "experiment") v.onRecord(e.record, e.source);
  });

  let explorer: RunExplorer | undefined;
  if (opts.explorer !== false && hooks.startExplorer) {
    explorer = await hooks.startExplorer(node, {
      host: config.web_host,
      port: config.web_port,
      metrics,
    });
    const ex = explorer;
    ctx.cleanup.push(() => ex.close().catch(() => {}));
  }
  printBanner(print, {
    nodeId: keys.nodeId,
    created,
    dataDir,
    listen: `${host}:${node.port}`,
    explorer: explorer?.url ?? (opts.explorer === false ? "off (--no-explorer)" : "off"),
    peers: opts.genesis
      ? "none (genesis)"
      : peers.length
      ? peers.join(", ")
      : `bootstrap ${config.bootstrap.join(", ") || "(none)"}`,
    mode,
    training: mode === "sync-only" ? "off" : await describeTrainer(trainer),
  });
  log.info("node started", { node_id: keys.nodeId, port: node.port, mode, peers });

  const stop = new AbortController();
  const stopped = control.stopped ?? stopSignal().stopped;
  stopped.then(() => stop.abort());
  let research: Promise<void> | undefined;
  if (mode === "research") {
    research = runResearch({
      node,
      trainer,
      keys,
      dataDir,
      maxExperiments: opts.maxExperiments,
      signal: stop.signal,
      timeBudget,
      log: (line) => {
        print(line);
        log.info(line, { part: "research" });
      },
    }).finally(() => stop.abort());
  }
  const done = new Promise<void>((resolve) =>
    stop.signal.addEventListener("abort", () => resolve())
  );
  await showProgress(node, done, print, control);
  await research; // rethrows a research failure (after the node stops, via cleanup)
}

async function describeTrainer(trainer: Trainer): Promise<string> {
  const env = await trainer.environment();
  return `${env.gpuClass} (${env.gpuModel}, torch ${env.torchVersion})`;
}

function trainingProgress(control: RunControl): (label: string, e: ProgressEvent) => void {
  let last = 0;
  return (label, e) => {
    const now = performance.now();
    if (now - last < 2000 && e.phase === "training") return;
    last = now;
    (control.print ?? console.log)(`  [${label}] ${renderProgress(e)}`);
  };
}

function logNodeEvent(log: FileLogger, e: NodeEvent): void {
  switch (e.kind) {
    case "peer":
      log.info(`peer ${e.state}`, { address: e.address, node_id: e.nodeId });
      return;
    case "experiment":
      log.debug("experiment stored", {
        id: e.record.id,
        source: e.source,
        status: e.record.status,
      });
      return;
    case "control":
      log.info("control event", { type: e.event.type, event_id: e.event.payload.event_id });
      return;
    case "profile":
      log.debug("profile stored", { node_id: e.profile.node_id });
      return;
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
  },
): void {
  print(style("bold", "spore node") + ` (${b.mode})`);
  print(`  node id   ${b.nodeId}${b.created ? style("dim", " (new identity)") : ""}`);
  print(`  data dir  ${b.dataDir}`);
  print(`  gossip    ${b.listen}`);
  print(`  explorer  ${b.explorer}`);
  print(`  peers     ${b.peers}`);
  print(`  training  ${b.training}`);
  print(`  mode      ${b.mode} (Ctrl-C to stop)`);
}

async function showProgress(
  node: SporeNode,
  stopped: Promise<void>,
  print: (l: string) => void,
  control: RunControl,
): Promise<void> {
  let tty = control.tty;
  if (tty === undefined) {
    try {
      tty = Deno.stdout.isTerminal();
    } catch {
      tty = false;
    }
  }
  const period = control.progressMs ?? (tty ? 1000 : 10_000);
  const enc = new TextEncoder();
  let last = node.stats();
  let lastAt = performance.now();
  let lastLine = "";
  const timer = setInterval(() => {
    const now = performance.now();
    const s = node.stats();
    const rate = (s.stored - last.stored) / ((now - lastAt) / 1000);
    last = s;
    lastAt = now;
    const line = `records received ${s.received} · stored ${s.stored} · ${rate.toFixed(0)}/s · ` +
      `peers ${s.peers} · graph ${node.stores.graph.count()}`;
    if (tty) {
      Deno.stdout.writeSync(enc.encode(`\r\x1b[2K${line}`));
    } else if (line !== lastLine) {
      print(`${new Date().toISOString()} ${line}`);
    }
    lastLine = line;
  }, period);
  try {
    await stopped;
  } finally {
    clearInterval(timer);
    if (tty) Deno.stdout.writeSync(enc.encode("\n"));
  }
}
