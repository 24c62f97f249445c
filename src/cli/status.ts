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
import { readVerificationSummary, type VerificationSummary } from "../verify/mod.ts";
import { classOf, type ExperimentRecord, matchesClassFilter } from "../protocol/mod.ts";
import { classJson, shownClasses, withClassOption } from "./classes.ts";
import { readNetworkStatus } from "./peer.ts";
import type { NetworkStatus } from "../net/alone.ts";

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
    "show graph size, frontier, best result, reputation and verification",
  );
  withJson(withDataDirOption(withClassOption(cmd))).action(async (
    opts: CommonOptions & { class?: string },
  ) => {
    const dataDir = dataDirOf(opts);
    await withDataDir(dataDir, async (ctx) => {
      const { graph, reputation } = ctx.stores;
      const stats = graph.stats();
      const { classes, named } = await shownClasses(graph, opts.class);
      const inFilter = (r: ExperimentRecord) =>
        opts.class === undefined || matchesClassFilter(classOf(r), opts.class, named);
      // With --class: the best and the recent records of the matching classes only.
      const best = opts.class === undefined
        ? graph.best()
        : classes.map((c) => graph.frontierOfClass(c, undefined, 1)[0])
          .filter((r) => r !== undefined)
          .sort((a, b) => a.val_bpb - b.val_bpb)[0];
      const recent = graph.recent(opts.class === undefined ? 5 : 500).filter(inFilter).slice(0, 5);
      const own = ctx.keys ? reputation.get(ctx.keys.nodeId) : undefined;
      const pid = await runningPid(dataDir);
      const verification = readVerificationSummary(dataDir, {
        selfId: ctx.keys?.nodeId,
        recent: 5,
      });
      const network = pid ? await readNetworkStatus(dataDir) ?? null : null;
      const data = {
        node_id: ctx.keys?.nodeId ?? null,
        running_pid: pid ?? null,
        network,
        experiment_count: stats.count,
        frontier_size: stats.frontierSize,
        best_val_bpb: stats.bestValBpb,
        best_id: best?.id ?? null,
        node_count: stats.nodes,
        reputation: own ?? null,
        verification,
        classes: classes.map(classJson),
        recent: recent.map((r) => ({
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
        ...(network ? [["peers", peersText(network)]] : []),
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
        [
          "verification",
          `${verification.verified_experiments} verified · ` +
          `${verification.open_challenges.length} open challenges · ` +
          `${verification.owed_answers} answers owed · ${verification.refused_events} refused`,
        ],
      ]));
      printVerification(verification);
      if (classes.length) {
        console.log("\n" + style("bold", "research classes"));
        console.log(table(
          ["class", "experiments", "frontier", "best val_bpb"],
          classes.map((c) => [
            safeText(c.name, 80),
            String(c.count),
            String(c.frontierSize),
            c.bestValBpb === null ? "-" : bpb(c.bestValBpb),
          ]),
        ));
      }
      if (recent.length) {
        console.log("\n" + style("bold", "recent"));
        for (const r of recent) {
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

/** The peers row: the count, and when alone, why (last dial error per address). */
function peersText(n: NetworkStatus): string {
  if (n.connected > 0) return `${n.connected} connected`;
  const errors = n.last_errors.map((e) => `${safeText(e.address, 80)}: ${safeText(e.error, 120)}`);
  return style("yellow", "no peers connected") +
    (errors.length ? `\n${errors.join("\n")}` : n.dialing.length ? " (dialing)" : "") +
    "\nto join: spore connect HOST:PORT, or spore run --peer HOST:PORT";
}

/** Open challenges and recent disputes, when there are any. */
function printVerification(v: VerificationSummary): void {
  if (v.open_challenges.length) {
    console.log("\n" + style("bold", "open challenges"));
    for (const c of v.open_challenges) {
      const wants = c.required !== null ? `/${c.required} (ours)` : "";
      console.log(
        `  ${shortId(c.experiment_id)}  by ${shortId(c.challenger_id)}  ` +
          `${c.responses}${wants} answers`,
      );
    }
  }
  if (v.recent_disputes.length) {
    console.log("\n" + style("bold", "recent disputes"));
    for (const d of v.recent_disputes) {
      const outcome = d.outcome === "rejected"
        ? style("red", "rejected")
        : style("green", "upheld  ");
      console.log(
        `  ${shortId(d.experiment_id)}  ${outcome}  publisher ${shortId(d.original_node_id)}  ` +
          `median ${bpb(d.ground_truth_bpb)}  ${d.verifier_count} verifiers`,
      );
    }
  }
}
