/**
 * `spore status`: the essentials of a data dir (graph size, frontier, best result, reputation).
 * Works while a node runs on the same data dir (SQLite readers under WAL).
 * @module
 */
import type { Command } from "commander";
import { isDataDirLocked, readPid } from "../ops/lock.ts";
import {
  type CommonOptions,
  dataDirOf,
  withDataDir as withDataDirOption,
  withJson,
} from "./common.ts";
import { withDataDir } from "./context.ts";
import { bpb, printJson, safeText, shortId, statusStyle, style, table } from "./output.ts";

/**
 * Pid of a node running on the data dir: the data-dir lock decides (a stale pid file whose pid
 * was reused by another process does not count).
 */
export function runningPid(dataDir: string): Promise<number | undefined> {
  try {
    if (!isDataDirLocked(dataDir)) return Promise.resolve(undefined);
  } catch {
    return Promise.resolve(undefined); // data dir not readable: nothing runs there for us
  }
  return Promise.resolve(readPid(dataDir) ?? -1);
}

/** Register `status`. */
export function registerStatus(program: Command): void {
  const cmd = program.command("status").description(
    "show graph size, frontier, best result and reputation",
  );
  withJson(withDataDirOption(cmd)).action(async (opts: CommonOptions) => {
    const dataDir = dataDirOf(opts);
    await withDataDir(dataDir, async (ctx) => {
      const { graph, reputation } = ctx.stores;
      const stats = graph.stats();
      const best = graph.best();
      const own = ctx.keys ? reputation.get(ctx.keys.nodeId) : undefined;
      const pid = await runningPid(dataDir);
      const data = {
        node_id: ctx.keys?.nodeId ?? null,
        running_pid: pid ?? null,
        experiment_count: stats.count,
        frontier_size: stats.frontierSize,
        best_val_bpb: stats.bestValBpb,
        best_id: best?.id ?? null,
        node_count: stats.nodes,
        reputation: own ?? null,
        recent: graph.recent(5).map((r) => ({
          id: r.id,
          status: r.status,
          val_bpb: r.val_bpb,
          description: r.description,
        })),
      };
      if (opts.json) return printJson(data);
      console.log(table(["", ""], [
        ["node", ctx.keys ? shortId(ctx.keys.nodeId) : style("yellow", "no identity (spore init)")],
        ["running", pid ? style("green", `yes (pid ${pid})`) : "no"],
        ["experiments", String(stats.count)],
        ["publishers", String(stats.nodes)],
        ["frontier", String(stats.frontierSize)],
        [
          "best val_bpb",
          best
            ? `${bpb(best.val_bpb)} (${shortId(best.id)}, ${safeText(best.gpu_model, 16)})`
            : "-",
        ],
        [
          "reputation",
          own
            ? `${
              own.score.toFixed(1)
            } (published ${own.experiments_published}, verified ${own.experiments_verified})`
            : "-",
        ],
      ]));
      if (data.recent.length) {
        console.log("\n" + style("bold", "recent"));
        for (const r of graph.recent(5)) {
          console.log(
            `  ${shortId(r.id)}  ${statusStyle(r.status.padEnd(7))}  ${bpb(r.val_bpb)}  ${
              safeText(r.description, 60)
            }`,
          );
        }
      }
    });
  });
}
