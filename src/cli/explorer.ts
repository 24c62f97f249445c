/**
 * `spore explorer`: serve the web explorer.
 *
 * - A node runs on this data dir: read its databases (SQLite readers under WAL) and follow them.
 * - Another node answers on the gossip port: attach to it as a peer (sync its graph into this
 *   data dir, live events and artifact fetches over the network) instead of failing.
 * - Nothing runs and `-p/--port` or `-c/--peer` is given: start a sync-only gossip node on this
 *   data dir and join the network through those peers (config.toml's too), as the Python
 *   explorer does.
 * - Nothing runs otherwise: serve the data dir as it is, following later writers.
 * @module
 */
import type { Command } from "commander";
import {
  ensureIdentity,
  loadConfig,
  loadIdentity,
  loadKnownPeers,
  type SporeConfig,
} from "../config.ts";
import { normalizePeer } from "./peer.ts";
import { SporeNode } from "../node.ts";
import type { NodeHandle } from "../node_types.ts";
import { acquireDataDirLock, type DataDirLock, isDataDirLocked } from "../ops/lock.ts";
import { startExplorer } from "../explorer/server.ts";
import { StoreNode } from "../explorer/standalone.ts";
import { openStores } from "../store/mod.ts";
import { type CommonOptions, dataDirOf, portNumber, withDataDir } from "./common.ts";
import { UserError } from "./errors.ts";
import { style } from "./output.ts";

interface ExplorerCliOptions extends CommonOptions {
  webHost?: string;
  webPort?: string;
  port?: string;
  peer?: string[];
  offline?: boolean;
}

/** Register `explorer`. */
export function registerExplorer(program: Command): void {
  const cmd = program
    .command("explorer")
    .description("serve the web explorer for this data dir (binds 127.0.0.1 unless --web-host)")
    .option(
      "--web-host <host>",
      "address to bind (default: web_host in config.toml, else 127.0.0.1)",
    )
    .option(
      "-w, --web-port <port>",
      "first port to try (default: web_port in config.toml, else 8470)",
    )
    .option(
      "-p, --port <port>",
      "with no node on this data dir: run a sync-only gossip node on this port and join the " +
        "network (default: port in config.toml)",
    )
    .option(
      "-c, --peer <host:port>",
      "with no node on this data dir: run a sync-only gossip node that dials this peer " +
        "(repeatable; config.toml's peers too)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      "--offline",
      "only serve this data dir (following records other processes write); join no network",
    );
  withDataDir(cmd).action(async (opts: ExplorerCliOptions) => {
    const dataDir = dataDirOf(opts);
    const config = await loadConfig(dataDir);
    const host = opts.webHost ?? config.web_host;
    const port = opts.webPort === undefined
      ? config.web_port
      : portNumber("--web-port")(opts.webPort);
    if (opts.offline && (opts.port !== undefined || opts.peer !== undefined)) {
      throw new UserError("--offline joins no network: drop -p/--port and -c/--peer, or it");
    }
    const gossip = {
      port: opts.port === undefined ? config.port : portNumber("--port")(opts.port),
      peers: [...new Set([...config.peer, ...(opts.peer ?? []).map(normalizePeer)])],
    };
    // As the Python explorer does: with no node on this data dir, run a sync-only gossip node
    // and join the network. A node of ours on the data dir (or --offline): serve the data dir.
    // A node of another data dir on the gossip port (and no -p/-c): attach to it as a peer.
    const joinsNetwork = !opts.offline && !isDataDirLocked(dataDir) &&
      (opts.port !== undefined || opts.peer !== undefined || !await listening(config.port));
    const source = joinsNetwork
      ? await joinNetwork(dataDir, config, gossip)
      : await openSource(dataDir, opts.offline ? 0 : config.port);
    let explorer;
    try {
      explorer = await startExplorer(source.node, { host, port });
    } catch (err) {
      await source.close();
      throw new UserError(err instanceof Error ? err.message : String(err));
    }
    console.log(`explorer: ${style("bold", explorer.url)} (${source.describe}; Ctrl-C to stop)`);
    if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1") {
      console.log(
        style("yellow", `note: bound to ${host}, so other machines can read this explorer`),
      );
    }
    await waitForStopSignal();
    await explorer.close();
    await source.close();
  });
}

/** What the explorer serves, and how to let go of it. */
interface ExplorerSource {
  node: NodeHandle;
  describe: string;
  close(): Promise<void>;
}

/** A sync-only gossip node of this data dir, joining the network (the Python explorer's way). */
async function joinNetwork(
  dataDir: string,
  config: SporeConfig,
  gossip: { port: number; peers: string[] },
): Promise<ExplorerSource> {
  const lock = acquireDataDirLock(dataDir);
  try {
    const { keys } = await ensureIdentity(dataDir);
    const node = await SporeNode.start({
      dataDir,
      keys,
      host: config.host,
      port: gossip.port,
      peers: gossip.peers,
      bootstrap: config.bootstrap,
      knownPeers: await loadKnownPeers(dataDir),
      maxPeers: config.max_peers,
    });
    const dialing = gossip.peers.length ? gossip.peers : config.bootstrap;
    return {
      node,
      describe: `sync-only gossip node on ${config.host}:${node.port}, connecting to ${
        dialing.join(", ") || "nobody"
      }; data dir ${dataDir}`,
      async close() {
        await node.close();
        lock.release();
      },
    };
  } catch (err) {
    lock.release();
    if (err instanceof Deno.errors.AddrInUse) {
      throw new UserError(`gossip port ${gossip.port} is in use: pick another with -p/--port`);
    }
    throw err;
  }
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
async function listening(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function openSource(dataDir: string, gossipPort: number): Promise<ExplorerSource> {
  if (!isDataDirLocked(dataDir) && gossipPort > 0 && await listening(gossipPort)) {
    // A node of another data dir runs here: join it as a peer on an ephemeral port.
    let lock: DataDirLock | undefined;
    try {
      lock = acquireDataDirLock(dataDir);
      const { keys } = await ensureIdentity(dataDir);
      const address = `127.0.0.1:${gossipPort}`;
      const node = await SporeNode.start({
        dataDir,
        keys,
        host: "127.0.0.1",
        port: 0,
        peers: [address],
        bootstrap: [],
        knownPeers: [],
        maxPeers: 8,
        targetOutbound: 0,
        publishPeers: false,
      });
      const held = lock;
      return {
        node,
        describe: `attached as a peer to the node on ${address}; data dir ${dataDir}`,
        async close() {
          await node.close();
          held.release();
        },
      };
    } catch (err) {
      lock?.release();
      throw err;
    }
  }
  const keys = await loadIdentity(dataDir);
  const stores = openStores(dataDir);
  const node = new StoreNode(stores, keys?.nodeId ?? "");
  node.watch();
  return {
    node,
    describe: `data dir ${dataDir}`,
    close() {
      node.unwatch();
      stores.close();
      return Promise.resolve();
    },
  };
}

/** Resolve on the first SIGINT or SIGTERM. */
function waitForStopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    const stop = () => {
      for (const s of signals) Deno.removeSignalListener(s, stop);
      resolve();
    };
    for (const s of signals) Deno.addSignalListener(s, stop);
  });
}
