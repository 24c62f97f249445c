/**
 * `spore connect`, `spore disconnect` and `spore peer`: the peer list in config.toml, the
 * discovered peers in known_peer, and the live connections of a running node.
 * @module
 */
import type { Command } from "commander";
import { MAX_LISTED, type NetworkStatus } from "../net/alone.ts";
import { dataPaths, loadConfig, loadKnownPeers, updateConfig } from "../config.ts";
import { formatAddress, parseAddress } from "../protocol/mod.ts";
import { type CommonOptions, dataDirOf, withDataDir, withJson } from "./common.ts";
import { UserError } from "./errors.ts";
import { printJson, safeText, shortId, style, table } from "./output.ts";

/** Normalize a `host:port` argument or throw a clear error. */
export function normalizePeer(text: string): string {
  const r = parseAddress(text);
  if (!r.ok) throw new UserError(`invalid peer: ${r.reason}`);
  return formatAddress(r.value);
}

/** A live connection as a running node reports it in `<data>/peers.json`. */
export interface LivePeer {
  address: string;
  node_id?: string;
  agent?: string;
  inbound?: boolean;
}

/**
 * What the running node writes to `<data>/peers.json` (its port, live peers, network status), as
 * untyped JSON to be read defensively; undefined when no node wrote it or it is mid-write.
 */
export async function readPeersFile(dataDir: string): Promise<Record<string, unknown> | undefined> {
  try {
    const raw = JSON.parse(await Deno.readTextFile(dataPaths(dataDir).peers));
    return raw !== null && typeof raw === "object" && !Array.isArray(raw) ? raw : undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof SyntaxError) return undefined;
    throw e;
  }
}

/** Live peers of a running node, if it publishes them. */
export async function readLivePeers(dataDir: string): Promise<LivePeer[] | undefined> {
  const peers = (await readPeersFile(dataDir))?.peers;
  return Array.isArray(peers)
    ? peers.filter((p: LivePeer) => typeof p?.address === "string")
    : undefined;
}

/**
 * The running node's links as it reports them in `<data>/peers.json` (connected count, addresses
 * being dialed, last dial error per address); undefined when no node publishes them. The file is
 * the node's, but read defensively: only well-formed entries, bounded, come back.
 */
export async function readNetworkStatus(dataDir: string): Promise<NetworkStatus | undefined> {
  const n = (await readPeersFile(dataDir))?.network as Record<string, unknown> | undefined;
  if (typeof n?.connected !== "number") return undefined;
  const str = (v: unknown) => typeof v === "string" ? v.slice(0, 300) : "";
  return {
    connected: n.connected,
    dialing: Array.isArray(n.dialing) ? n.dialing.slice(0, MAX_LISTED).map(str) : [],
    last_errors: Array.isArray(n.last_errors)
      ? n.last_errors.slice(0, MAX_LISTED).map((e: Record<string, unknown>) => ({
        address: str(e?.address),
        error: str(e?.error),
        at: str(e?.at),
      }))
      : [],
  };
}

/**
 * Edit config.toml's peer list: `change` gets the normalized address and the list, and returns
 * the new list (absent: unchanged) and what to tell the user once it is written.
 */
async function editConfiguredPeers(
  address: string,
  opts: CommonOptions,
  change: (peer: string, peers: string[]) => { peers?: string[]; message: string },
): Promise<void> {
  const peer = normalizePeer(address);
  const dataDir = dataDirOf(opts);
  const cfg = await loadConfig(dataDir);
  const next = change(peer, cfg.peer);
  if (next.peers) await updateConfig(dataDir, { peer: next.peers });
  console.log(next.message);
}

/** Register `connect`, `disconnect` and `peer`. */
export function registerPeer(program: Command): void {
  const connect = program
    .command("connect")
    .description("add a peer (host:port) to config.toml")
    .argument("<address>", "peer address, e.g. 203.0.113.5:7470");
  withDataDir(connect).action((address: string, opts: CommonOptions) =>
    editConfiguredPeers(
      address,
      opts,
      (peer, peers) =>
        peers.includes(peer) ? { message: `${peer} is already a configured peer.` } : {
          peers: [...peers, peer],
          message:
            `Added ${peer}. A running node dials it on its next reconnect round; new nodes dial it at start.`,
        },
    )
  );

  const disconnect = program
    .command("disconnect")
    .description("remove a peer from config.toml")
    .argument("<address>", "peer address as listed by `spore peer`");
  withDataDir(disconnect).action((address: string, opts: CommonOptions) =>
    editConfiguredPeers(address, opts, (peer, peers) => {
      if (!peers.includes(peer)) {
        throw new UserError(
          `${peer} is not a configured peer (configured: ${peers.join(", ") || "none"}).`,
        );
      }
      return { peers: peers.filter((p) => p !== peer), message: `Removed ${peer}.` };
    })
  );

  const peerCmd = program.command("peer").description("list configured, discovered and live peers");
  withJson(withDataDir(peerCmd)).action(async (opts: CommonOptions) => {
    const dataDir = dataDirOf(opts);
    const cfg = await loadConfig(dataDir);
    const known = await loadKnownPeers(dataDir);
    const live = await readLivePeers(dataDir);
    const data = {
      configured: cfg.peer,
      bootstrap: cfg.peer.length ? [] : cfg.bootstrap,
      discovered: known.filter((k) => !cfg.peer.includes(k)),
      live: live ?? null,
      known_peer_file: dataPaths(dataDir).knownPeer,
    };
    if (opts.json) return printJson(data);
    const rows: string[][] = [
      ...data.configured.map((a) => [a, "configured"]),
      ...data.bootstrap.map((a) => [a, "bootstrap"]),
      ...data.discovered.map((a) => [a, "discovered"]),
    ];
    console.log(
      rows.length
        ? table(["address", "source"], rows)
        : "No peers configured. Add one with `spore connect host:port`.",
    );
    if (live === undefined) {
      console.log(
        style("dim", "\nNo running node reports live connections (start one with `spore run`)."),
      );
    } else {
      console.log(`\n${style("bold", "live connections")} (${live.length})`);
      if (live.length) {
        console.log(table(
          ["address", "node", "agent", "direction"],
          live.map((p) => [
            safeText(p.address, 48),
            p.node_id ? shortId(p.node_id) : "-",
            safeText(p.agent ?? "-", 24),
            p.inbound ? "in" : "out",
          ]),
        ));
      }
    }
  });
}
