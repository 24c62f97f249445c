/**
 * `spore init` and `spore info`: create a data dir and describe it.
 * @module
 */
import type { Command } from "commander";
import {
  ensureConfigFile,
  ensureIdentity,
  loadConfig,
  loadIdentity,
  loadKnownPeers,
  loadLlmConfig,
  updateConfig,
} from "../config.ts";
import { parseAddress } from "../protocol/mod.ts";
import { openStores } from "../store/mod.ts";
import { VERSION } from "../version.ts";
import { type CommonOptions, dataDirOf, portNumber, withDataDir, withJson } from "./common.ts";
import { UserError } from "./errors.ts";
import { printJson, style, table } from "./output.ts";

interface InitOptions extends CommonOptions {
  port?: string;
  host?: string;
  peer?: string[];
}

/** Validate `host:port` peer arguments, with a clear error. */
export function checkPeerArgs(peers: string[] = []): string[] {
  for (const p of peers) {
    const r = parseAddress(p);
    if (!r.ok) throw new UserError(`invalid peer: ${r.reason}`);
  }
  return peers;
}

/** Register `init` and `info`. */
export function registerInit(program: Command): void {
  const init = program
    .command("init")
    .description("create the data dir: identity (Ed25519 key), config.toml and databases")
    .option("--port <port>", "gossip port to save in config.toml")
    .option("--host <host>", "listen address to save in config.toml")
    .option("--peer <host:port...>", "peers to save in config.toml");
  withJson(withDataDir(init)).action(async (opts: InitOptions) => {
    const dataDir = dataDirOf(opts);
    const port = opts.port === undefined ? undefined : portNumber("--port")(opts.port);
    const peer = opts.peer ? checkPeerArgs(opts.peer) : undefined;
    await loadConfig(dataDir); // refuse to touch a broken config.toml
    const { keys, created } = await ensureIdentity(dataDir);
    await ensureConfigFile(dataDir);
    if (port !== undefined || opts.host !== undefined || peer !== undefined) {
      const cfg = await loadConfig(dataDir);
      await updateConfig(dataDir, {
        host: opts.host ?? cfg.host,
        port: port ?? cfg.port,
        data_dir: dataDir,
        peer: peer ?? cfg.peer,
      });
    }
    openStores(dataDir).close();
    if (opts.json) return printJson({ node_id: keys.nodeId, data_dir: dataDir, created });
    console.log(
      created ? style("green", "Created a new node identity.") : "Identity already exists.",
    );
    console.log(`node id   ${keys.nodeId}`);
    console.log(`data dir  ${dataDir}`);
    console.log(`next      spore run --data-dir ${dataDir}`);
  });

  const info = program.command("info").description("show identity, configuration and data paths");
  withJson(withDataDir(info)).action(async (opts: CommonOptions) => {
    const dataDir = dataDirOf(opts);
    const cfg = await loadConfig(dataDir);
    const keys = await loadIdentity(dataDir);
    const llm = await loadLlmConfig(dataDir);
    const known = await loadKnownPeers(dataDir);
    const data = {
      version: VERSION,
      node_id: keys?.nodeId ?? null,
      data_dir: dataDir,
      host: cfg.host,
      port: cfg.port,
      web: `${cfg.web_host}:${cfg.web_port}`,
      peer: cfg.peer,
      bootstrap: cfg.bootstrap,
      known_peer_count: known.length,
      llm: llm ? { provider: llm.provider, model: llm.model } : null,
      python: cfg.python ?? null,
    };
    if (opts.json) return printJson(data);
    console.log(table(["", ""], [
      ["version", data.version],
      ["node id", data.node_id ?? style("yellow", "none (run `spore init`)")],
      ["data dir", dataDir],
      ["listen", `${cfg.host}:${cfg.port}`],
      ["explorer", data.web],
      ["peers", cfg.peer.join(", ") || "-"],
      ["bootstrap", cfg.bootstrap.join(", ") || "-"],
      ["known peers", String(known.length)],
      ["llm", llm ? `${llm.provider} ${llm.model}` : "none (built-in mutator)"],
    ]));
  });
}
