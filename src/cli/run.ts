/**
 * `spore run`: start a node. In this build only the sync-only mode works (`--no-train`): join
 * the network, sync and relay the graph, serve artifacts. `--genesis` starts without any peer.
 * Research and verify-only modes belong to other parts of the node and fall back to sync-only.
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
import { SporeNode } from "../node.ts";
import type { NodeHandle } from "../node_types.ts";
import { positiveInt } from "./common.ts";
import { UserError } from "./errors.ts";
import { style } from "./output.ts";
import { normalizePeer } from "./peer.ts";
import { runningPid } from "./status.ts";

/** Parsed `spore run` options (commander's `--no-x` flags arrive as `x: false`). */
export interface RunOptions {
  train?: boolean;
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
  startExplorer?(node: NodeHandle, opts: { host: string; port: number }): Promise<RunExplorer>;
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

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Register `run`. */
export function registerRun(program: Command, hooks: RunHooks = {}): void {
  program
    .command("run")
    .description("start a node: sync the research graph with peers (and, later, do research)")
    .option("--no-train", "sync-only: relay and store the graph, run no experiments")
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

/** Resolve on the first SIGINT or SIGTERM. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    const stop = () => {
      for (const s of signals) Deno.removeSignalListener(s, stop);
      resolve();
    };
    for (const s of signals) Deno.addSignalListener(s, stop);
  });
}

/** Peers to dial: config.toml's plus `--peer`s, normalized and deduplicated. */
export function peersToDial(config: SporeConfig, opts: RunOptions): string[] {
  // Validated even with --genesis, so a typo is reported rather than silently ignored.
  const flagged = (opts.peer ?? []).map(normalizePeer);
  if (opts.genesis) return [];
  return [...new Set([...config.peer, ...flagged])];
}

/** Start a node with `opts`, print its banner and progress, and stop it cleanly. */
export async function runNode(
  opts: RunOptions,
  hooks: RunHooks = {},
  control: RunControl = {},
): Promise<void> {
  const print = control.print ?? ((line: string) => console.log(line));
  const dataDir = resolveDataDir(opts.dataDir);
  const config = await loadConfig(dataDir);
  const other = await runningPid(dataDir);
  if (other !== undefined && other !== Deno.pid) {
    throw new UserError(
      `a node is already running on ${dataDir} (pid ${other}). Stop it first, or use another ` +
        `--data-dir.`,
    );
  }
  const { keys, created } = await ensureIdentity(dataDir);
  if (opts.train !== false) {
    print(style("yellow", "research mode is not available yet in this build: running sync-only"));
  }
  const peers = peersToDial(config, opts);
  const host = opts.host ?? config.host;
  const port = opts.port ?? config.port;
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
  }).catch((e) => {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UserError(`port ${port} on ${host} is in use: pick another with --port`);
    }
    throw e;
  });
  const pidFile = dataPaths(dataDir).pid;
  let explorer: RunExplorer | undefined;
  try {
    await Deno.writeTextFile(pidFile, `${Deno.pid}\n`);
    if (opts.explorer !== false && hooks.startExplorer) {
      explorer = await hooks.startExplorer(node, { host: config.web_host, port: config.web_port });
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
    });
    await showProgress(node, control.stopped ?? stopSignal(), print, control);
  } finally {
    print("stopping: storing everything received...");
    await explorer?.close().catch(() => {});
    await node.close();
    await Deno.remove(pidFile).catch(() => {});
  }
  const s = node.stats();
  print(`stopped. ${s.stored} records stored this run (${s.received} received).`);
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
  },
): void {
  print(style("bold", "spore node") + " (sync-only)");
  print(`  node id   ${b.nodeId}${b.created ? style("dim", " (new identity)") : ""}`);
  print(`  data dir  ${b.dataDir}`);
  print(`  gossip    ${b.listen}`);
  print(`  explorer  ${b.explorer}`);
  print(`  peers     ${b.peers}`);
  print(`  mode      sync-only (Ctrl-C to stop)`);
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
