/**
 * `spore explorer`: serve the web explorer over a data dir without running a node.
 * Live updates come from watching the data dir, so it follows a `spore run` on the same dir.
 * @module
 */
import type { Command } from "commander";
import { loadConfig, loadIdentity } from "../config.ts";
import { startExplorer } from "../explorer/server.ts";
import { StoreNode } from "../explorer/standalone.ts";
import { openStores } from "../store/mod.ts";
import { type CommonOptions, dataDirOf, withDataDir } from "./common.ts";
import { UserError } from "./errors.ts";
import { style } from "./output.ts";

interface ExplorerCliOptions extends CommonOptions {
  webHost?: string;
  webPort?: string;
}

/** Parse `--web-port`, with a clear error. */
export function parseWebPort(value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65535) {
    throw new UserError(`--web-port must be a number from 0 to 65535, got "${value}"`);
  }
  return n;
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
    const port = opts.webPort === undefined ? config.web_port : parseWebPort(opts.webPort);
    const keys = await loadIdentity(dataDir);
    const stores = openStores(dataDir);
    const node = new StoreNode(stores, keys?.nodeId ?? "");
    let explorer;
    try {
      explorer = await startExplorer(node, { host, port });
    } catch (err) {
      stores.close();
      throw new UserError(err instanceof Error ? err.message : String(err));
    }
    node.watch();
    console.log(`explorer: ${style("bold", explorer.url)} (data dir ${dataDir}; Ctrl-C to stop)`);
    if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1") {
      console.log(
        style("yellow", `note: bound to ${host}, so other machines can read this explorer`),
      );
    }
    await waitForStopSignal();
    node.unwatch();
    await explorer.close();
    stores.close();
  });
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
