/**
 * `spore explorer`: serve the web explorer.
 *
 * - A node runs on this data dir: read its databases (SQLite readers under WAL) and follow them.
 * - Another node answers on the gossip port: attach to it as a peer (sync its graph into this
 *   data dir, live events and artifact fetches over the network) instead of failing.
 * - Nothing runs: serve the data dir as it is, following later writers.
 * @module
 */
import type { Command } from "commander";
import { ensureIdentity, loadConfig, loadIdentity } from "../config.ts";
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
    .option("--web-port <port>", "first port to try (default: web_port in config.toml, else 8470)");
  withDataDir(cmd).action(async (opts: ExplorerCliOptions) => {
    const dataDir = dataDirOf(opts);
    const config = await loadConfig(dataDir);
    const host = opts.webHost ?? config.web_host;
    const port = opts.webPort === undefined
      ? config.web_port
      : portNumber("--web-port")(opts.webPort);
    const source = await openSource(dataDir, config.port);
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
