/**
 * The node as a library: {@link startNode} composes every part a mode needs and returns one
 * handle that stops them all. `spore run` (src/cli/run.ts) adds only flags, banner and progress
 * output; tests start whole nodes through it without the CLI.
 *
 * Parts, in start order (closed in reverse): the data-dir lock, the log file, the identity, the
 * trainer (research and verify-only), the {@link SporeNode} (stores and gossip network), the
 * metrics, the verifier, the explorer and the research loop. The verifier needs the running node
 * (to fetch code and broadcast) and receives the node's control events: it subscribes with
 * {@link SporeNode.onControl} once it exists, and replays the control log at start for the
 * events that came before.
 * @module
 */
import {
  ConfigError,
  configPath,
  dataPaths,
  ensureIdentity,
  loadConfig,
  loadKnownPeers,
  type SporeConfig,
  trainMemoryLimit,
} from "./config.ts";
import { SporeNode } from "./node.ts";
import type { NodeEvent, NodeEventSource, Trainer } from "./node_types.ts";
import type { KeyPair, ResearchClass } from "./protocol/mod.ts";
import { readDatasetsOfPrepare } from "./store/mod.ts";
import { type ResolvedWorkspace, resolveWorkspace } from "./training/research_workspace.ts";
import type { CompilePolicy } from "./training/compile_policy.ts";
import type { NodeOptions } from "./node.ts";
import { acquireDataDirLock } from "./ops/lock.ts";
import { FileLogger, type Logger, type LogLevel } from "./ops/log.ts";
import { NodeMetrics } from "./ops/node_metrics.ts";
import { type MemoryLimit, TrainingRuntime, TrainingSetupError } from "./training/mod.ts";
import type { ProgressEvent } from "./training/runner.ts";
import { ensureUserWorkspace, NoTrainer, RuntimeTrainer } from "./training/trainer.ts";
import { Verifier, verifierSettings } from "./verify/mod.ts";
import { ExplorerBindError, type RunningExplorer, startExplorer } from "./explorer/server.ts";
import { runResearch } from "./cli/research_run.ts";
import { WorkspaceBestCode } from "./research/best_code.ts";
import { safetyCatch } from "./errors.ts";
import type { ResearchSummary } from "./research/loop.ts";
import { ALONE_FIRST_MS, aloneLines, AloneWatch, networkStatus } from "./net/alone.ts";

/**
 * How long research waits for a first peer before starting from the baseline: a dial that
 * answers at all answers within seconds; beyond this the network is unreachable (the Python
 * node waits about 150 s, which mostly waits for nothing).
 */
export const RESEARCH_PEER_WAIT_MS = 30_000;

/** The mode a node runs in. */
export type RunMode = "research" | "verify-only" | "sync-only";

/** How to prepare the sandboxed training runtime (research and verify-only modes). */
export interface TrainingOptions {
  /** Python interpreter with torch (default: config.toml's, else $SPORE_PYTHON, python3). */
  python?: string | undefined;
  /** Train without bubblewrap. */
  unsafeNoSandbox?: boolean | undefined;
  /** Memory limit of each run (default: config.toml's `train_memory_limit`, else half the RAM). */
  memoryLimit?: MemoryLimit | undefined;
  /** Share of the device to use, 1-100. */
  resource?: number | undefined;
  /** Progress of each training run. */
  onProgress?: ((label: string, e: ProgressEvent) => void) | undefined;
  /** Research workspace dir (default: config.toml's `workspace`, else the embedded one). */
  workspace?: string | undefined;
  /** Its `dataset_cid` (default: config's, else what the graph's records carry). */
  datasetCid?: string | undefined;
  /** Where its prepared data is (default: where its prepare.py looks). */
  dataCache?: string | undefined;
}

/** What the training part of a node runs with, for banners. */
export interface TrainingInfo {
  /** The `--workspace` one, when not the embedded workspace. */
  workspace?: ResolvedWorkspace | undefined;
  /** The research class records are published, verified and built on in. */
  researchClass: ResearchClass;
  compile: CompilePolicy;
}

/** Everything {@link startNode} needs; only `dataDir` is required. */
export interface StartNodeOptions {
  dataDir: string;
  /** Requested mode (default research); without a usable trainer it falls back to sync-only. */
  mode?: RunMode;
  /** config.toml's settings (default: read from `dataDir`). */
  config?: SporeConfig;
  /** Gossip address (default: the config's). */
  host?: string;
  port?: number;
  /** Peers to dial (default: the config's); ignored with `genesis`. */
  peers?: string[];
  /** Start a new network: dial nobody (others may still connect). */
  genesis?: boolean | undefined;
  maxPeers?: number | undefined;
  /** Log file detail (default info). */
  logLevel?: LogLevel;
  /** Serve the explorer on the config's web address (default true). */
  explorer?: boolean | undefined;
  /** Explorer port (default: the config's `web_port`). */
  webPort?: number | undefined;
  /**
   * Say `no peers connected` after this long without a peer ({@link ALONE_FIRST_MS}; tests
   * shorten it), then at doubling intervals.
   */
  aloneWarnMs?: number | undefined;
  /** Research mode stops after this many experiments. */
  maxExperiments?: number | undefined;
  training?: TrainingOptions;
  /**
   * Runs once the data dir is locked, before the training runtime is prepared (`spore run` asks
   * there whether to install missing packages).
   */
  beforeTraining?: (() => Promise<unknown>) | undefined;
  /** A ready trainer instead of the sandboxed runtime (tests); `timeBudget` goes with it. */
  trainer?: Trainer;
  timeBudget?: number;
  /** Lines a person should see: workspace setup, mode fallback, research progress. */
  say?: (line: string) => void;
  /** Environment lookup for the verifier's settings (default: `Deno.env.get`). */
  env?: (name: string) => string | undefined;
  /** Network tuning (tests). */
  network?: Pick<NodeOptions, "timing" | "limits" | "verifyWorkers" | "targetOutbound">;
}

/** A started node with every part of its mode; {@link RunningNode.close} stops them all. */
export interface RunningNode extends AsyncDisposable {
  /** The mode actually running (research or verify-only fall back to sync-only without torch). */
  readonly mode: RunMode;
  /** Why the requested mode fell back to sync-only, if it did. */
  readonly fallbackReason?: string | undefined;
  readonly keys: KeyPair;
  /** True when this start created the node's identity. */
  readonly newIdentity: boolean;
  readonly config: SporeConfig;
  readonly node: SporeNode;
  readonly events: NodeEventSource;
  readonly trainer: Trainer;
  /** Workspace, class and compile policy of the trainer (absent in sync-only mode). */
  readonly training?: TrainingInfo | undefined;
  readonly verifier: Verifier;
  readonly metrics: NodeMetrics;
  readonly explorer?: RunningExplorer | undefined;
  /** Why the explorer is not running although it was asked for (it could not bind). */
  readonly explorerError?: string | undefined;
  readonly log: Logger;
  /**
   * The research loop (research mode only): resolves with its last summary when it ends by
   * itself (`done`: its experiments ran; otherwise it stopped on a failure it said how to fix,
   * and the node runs on); {@link close} stops it first.
   */
  readonly research?: Promise<ResearchSummary> | undefined;
  /** Stop the research loop, explorer, verifier, node, metrics, log and lock, in that order. */
  close(): Promise<void>;
}

/**
 * Start a node in `options.mode` on `options.dataDir`.
 * @throws {DataDirLockedError} when another node holds the data dir.
 * @throws {Deno.errors.AddrInUse} when the gossip port is taken.
 */
export async function startNode(options: StartNodeOptions): Promise<RunningNode> {
  const { dataDir } = options;
  const say = options.say ?? (() => {});
  const config = options.config ?? await loadConfig(dataDir);
  // Undone in reverse order by close(), or right here when a later part fails to start.
  await using stack = new AsyncDisposableStack();
  const lock = acquireDataDirLock(dataDir);
  stack.defer(() => lock.release());
  const log = new FileLogger({ dir: dataPaths(dataDir).log, level: options.logLevel ?? "info" });
  stack.defer(() => log.close());
  const { keys, created } = await ensureIdentity(dataDir);

  let mode: RunMode = options.mode ?? "research";
  let trainer: Trainer = options.trainer ?? new NoTrainer("this node does not train (sync-only)");
  let timeBudget = options.timeBudget;
  let fallbackReason: string | undefined;
  let training: TrainingInfo | undefined;
  if (mode !== "sync-only" && !options.trainer) {
    await options.beforeTraining?.();
    try {
      ({ trainer, timeBudget, info: training } = await prepareTrainer(
        dataDir,
        config,
        options.training,
        say,
      ));
    } catch (e) {
      if (!(e instanceof TrainingSetupError)) throw e;
      log.warn("mode fallback", { mode, reason: e.message });
      fallbackReason = e.message;
      mode = "sync-only";
    }
  }

  const genesis = options.genesis === true;
  const peers = genesis ? [] : options.peers ?? config.peer;
  const settings = verifierSettings(config, options.env ?? ((n) => Deno.env.get(n)));
  const node = await SporeNode.start({
    dataDir,
    keys,
    host: options.host ?? config.host,
    port: options.port ?? config.port,
    peers,
    bootstrap: genesis ? [] : config.bootstrap,
    knownPeers: genesis ? [] : await loadKnownPeers(dataDir),
    maxPeers: options.maxPeers ?? config.max_peers,
    targetOutbound: config.outbound_peers,
    gossip: config.gossip === "flood" ? "flood" : "announce",
    genesis,
    acceptUnsigned: settings.acceptUnsigned,
    log,
    ...options.network,
  });
  // Metrics attach right after start: only a dial's first hello can precede them.
  const metrics = new NodeMetrics({ log });
  metrics.attach(node);
  stack.defer(async () => {
    await node.close();
    log.info("node stopped", { ...node.stats() });
  });
  node.events.on((e) => logNodeEvent(log, e));

  const verifier = Verifier.open(dataDir, {
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
    runs: node.runs,
  });
  stack.defer(() => verifier.close());
  stack.defer(node.onControl(verifier));
  await verifier.start();
  node.events.on((e) => {
    if (e.kind === "experiment") verifier.onRecord(e.record, e.source);
  });

  let explorer: RunningExplorer | undefined;
  let explorerError: string | undefined;
  if (options.explorer !== false) {
    try {
      const ex = explorer = await startExplorer(node, {
        host: config.web_host,
        port: options.webPort ?? config.web_port,
        metrics,
      });
      // A failed explorer close must not keep the node's records from being stored.
      stack.defer(() => ex.close().catch(safetyCatch));
    } catch (e) {
      // The node is useful without its web view: a port that cannot be bound is a warning.
      if (!(e instanceof ExplorerBindError)) throw e;
      explorerError = e.message.replace(/^explorer: /, "");
      log.warn("explorer not started", { reason: explorerError });
      say(`warning: explorer not started: ${explorerError}`);
    }
  }
  // For `spore start`, which reports where the running node's explorer is.
  node.setExplorer(explorer?.url ?? (explorerError ? `off (${explorerError})` : "off"));
  if (!genesis) {
    const watch = new AloneWatch(options.aloneWarnMs ?? ALONE_FIRST_MS);
    const timer = setInterval(() => {
      const alone = watch.check(Date.now(), node.peers().length);
      if (alone === undefined) return;
      const lines = aloneLines(networkStatus(node.network), alone);
      log.warn(lines[0]!, { errors: lines.slice(1).join("; ") });
      for (const l of lines) say(l);
    }, 1000);
    stack.defer(() => clearInterval(timer));
  }
  log.info("node started", { node_id: keys.nodeId, port: node.port, mode, peers });

  let research: Promise<ResearchSummary> | undefined;
  if (mode === "research") {
    const stop = new AbortController();
    const loop = research = runResearch({
      node,
      trainer,
      keys,
      dataDir,
      maxExperiments: options.maxExperiments,
      signal: stop.signal,
      timeBudget,
      bestCode: new WorkspaceBestCode(
        training?.workspace?.dir ?? dataPaths(dataDir).workspace,
        dataPaths(dataDir).workspaceHistory,
      ),
      // The dials to configured and bootstrap peers are still under way when research starts.
      peerWaitMs: genesis || peers.length + config.bootstrap.length === 0
        ? 0
        : RESEARCH_PEER_WAIT_MS,
      log: (line) => {
        say(line);
        log.info(line, { part: "research" });
      },
    });
    // Its failure reaches whoever awaits `research`; closing only waits for it to end.
    stack.defer(async () => {
      stop.abort();
      await loop.catch(() => {});
    });
  }

  const parts = stack.move();
  const close = () => parts.disposeAsync();
  return {
    mode,
    fallbackReason,
    keys,
    newIdentity: created,
    config,
    node,
    events: node.events,
    trainer,
    training,
    verifier,
    metrics,
    explorer,
    explorerError,
    log,
    research,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Prepare the sandboxed runtime (python, torch, sandbox, data) for the node's workspace, saying
 * what it does: the `--workspace` (or config `workspace`) one with its research class, else the
 * embedded workspace copied into the data dir.
 * @throws {TrainingSetupError} when this machine cannot train.
 * @throws {ConfigError} when the given workspace cannot be used (missing files, unknown dataset,
 * its prepared data absent): the user asked for it, so the node does not quietly sync instead.
 */
export async function prepareTrainer(
  dataDir: string,
  config: SporeConfig,
  training: TrainingOptions = {},
  say: (line: string) => void = () => {},
): Promise<{ trainer: Trainer; timeBudget: number; info: TrainingInfo }> {
  const dir = training.workspace ?? configPath(config.workspace, dataDir);
  let workspace: ResolvedWorkspace | undefined;
  if (dir !== undefined) {
    try {
      workspace = await resolveWorkspace({
        dir,
        datasetCid: training.datasetCid,
        configDatasetCid: config.dataset_cid,
        dataCache: training.dataCache ?? configPath(config.data_cache, dataDir),
        graphDatasets: (prepareCid) => readDatasetsOfPrepare(dataDir, prepareCid),
      });
    } catch (e) {
      throw workspaceProblem(e);
    }
  } else if (training.datasetCid !== undefined || training.dataCache !== undefined) {
    throw new ConfigError("--dataset-cid and --data-cache need --workspace DIR");
  }
  const workspaceDir = workspace?.dir ?? dataPaths(dataDir).workspace;
  if (!workspace) {
    const copied = await ensureUserWorkspace(workspaceDir);
    if (copied.length) say(`workspace: copied ${copied.join(", ")} to ${workspaceDir}`);
  }
  say("preparing training (python, torch, sandbox, data)...");
  const runtime = await TrainingRuntime.create({
    dataDir,
    python: training.python ?? config.python,
    unsafeNoSandbox: training.unsafeNoSandbox,
    memoryLimit: training.memoryLimit ?? trainMemoryLimit(config),
    workspaceSourceDir: workspaceDir,
    foreign: workspace && !workspace.embedded ? workspace : undefined,
  }).catch((e) => {
    throw workspace ? workspaceProblem(e) : e;
  });
  const trainer = new RuntimeTrainer(runtime, {
    resource: training.resource,
    workspaceDir,
    onProgress: training.onProgress,
  });
  const info: TrainingInfo = {
    workspace,
    researchClass: await trainer.workspaceIds(),
    compile: runtime.compile,
  };
  return { trainer, timeBudget: trainer.timeBudget, info };
}

/** Problems of a workspace the user named: not a reason to fall back to sync-only. */
const WORKSPACE_PROBLEMS = new Set(["workspace_missing", "class_unknown", "data_missing"]);

function workspaceProblem(e: unknown): unknown {
  return e instanceof TrainingSetupError && WORKSPACE_PROBLEMS.has(e.problem)
    ? new ConfigError(e.message)
    : e;
}

function logNodeEvent(log: Logger, e: NodeEvent): void {
  switch (e.kind) {
    case "peer":
      // A failed dial is logged by the network's dialer (`part: net:dial`) already.
      if (e.dialError) return;
      log.info(`peer ${e.state}`, { address: e.address, node_id: e.nodeId, reason: e.reason });
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
