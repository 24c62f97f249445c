/**
 * `spore checkout ID [--output FILE]`: write the exact `train.py` of any experiment. The code
 * comes from this data dir's artifact store, else from peers (the running node on this data dir,
 * configured, known and bootstrap peers), and is written only when its SHA-256 is the record's
 * `code_cid`; fetched code is kept in the artifact store too.
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { atomicWrite, loadKnownPeers } from "../config.ts";
import { fetchCodeFromPeers } from "../net/code_client.ts";
import { shortId } from "../protocol/mod.ts";
import {
  type CommonOptions,
  dataDirOf,
  positiveInt,
  withDataDir as withDataDirOption,
} from "./common.ts";
import { withDataDir } from "./context.ts";
import { UserError } from "./errors.ts";
import { resolveExperiment } from "./graph.ts";
import { readPeersFile } from "./peer.ts";
import { printJson } from "./output.ts";
import { isDataDirLocked } from "../ops/lock.ts";

interface CheckoutOptions extends CommonOptions {
  output?: string;
  timeout: number;
}

/** Register `checkout`. */
export function registerCheckout(program: Command): void {
  const cmd = program
    .command("checkout")
    .description("write the exact train.py of an experiment (fetched from peers if needed)")
    .argument("<id>", "experiment id or unique prefix")
    .option("-o, --output <file>", "where to write it (default: train-<short id>.py)")
    .option(
      "--timeout <s>",
      "seconds to wait for peers when the code is not stored here",
      positiveInt("--timeout"),
      30,
    )
    .option("--json", "print {id, code_cid, path, source} as JSON");
  withDataDirOption(cmd).action(async (id: string, opts: CheckoutOptions) => {
    const dataDir = dataDirOf(opts);
    await withDataDir(dataDir, async (ctx) => {
      const record = resolveExperiment(ctx.stores.graph, id);
      const cid = record.code_cid;
      let code = await ctx.stores.artifacts.get(cid);
      let source = "local";
      if (code === undefined) {
        const peers = await peersToAsk(dataDir, ctx.config);
        if (peers.length === 0) {
          throw new UserError(
            `the code of ${shortId(record.id)} (${shortId(cid)}) is not stored here and no ` +
              "peer is configured: `spore connect HOST:PORT`, then try again",
          );
        }
        if (!opts.json) {
          console.error(`fetching ${shortId(cid)} from ${peers.length} peer(s)...`);
        }
        const got = await fetchCodeFromPeers(cid, peers, { deadlineMs: opts.timeout * 1000 });
        if (got.code === undefined) {
          const why = got.attempts.map((a) => `  ${a.address}: ${a.error}`).join("\n");
          throw new UserError(
            `no peer sent the code of ${shortId(record.id)} (${cid}):\n${why}\n` +
              "Its publisher may be offline; try again later or with `--timeout`.",
          );
        }
        code = got.code;
        source = "peer";
        await ctx.stores.artifacts.put(code);
      }
      const path = resolve(opts.output ?? `train-${shortId(record.id)}.py`);
      // The exact bytes (not decoded text), through a temporary sibling and a rename.
      await atomicWrite(path, code);
      if (opts.json) return printJson({ id: record.id, code_cid: cid, path, source });
      console.log(`wrote ${path} (${code.length} bytes, sha256 ${shortId(cid)}, from ${source})`);
    });
  });
}

/** A running node of ours first (it holds everything it synced), then every peer we know. */
async function peersToAsk(
  dataDir: string,
  config: { port: number; peer: string[]; bootstrap: string[] },
): Promise<string[]> {
  const own = isDataDirLocked(dataDir)
    ? [`127.0.0.1:${await runningPort(dataDir) ?? config.port}`]
    : [];
  const known = await loadKnownPeers(dataDir);
  return [...new Set([...own, ...config.peer, ...known, ...config.bootstrap])];
}

/** The gossip port the running node reports in its peers file (it may differ from config). */
async function runningPort(dataDir: string): Promise<number | undefined> {
  const port = (await readPeersFile(dataDir))?.port;
  return typeof port === "number" && Number.isInteger(port) && port > 0 ? port : undefined;
}
