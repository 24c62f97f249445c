/**
 * `spore clean`: delete synced data (default), the workspace copy, or everything.
 * @module
 */
import type { Command } from "commander";
import { dataPaths } from "../config.ts";
import { type CommonOptions, dataDirOf, withDataDir } from "./common.ts";
import { UserError } from "./errors.ts";
import { runningPid } from "./status.ts";
import { style } from "./output.ts";
import { askYesNo } from "./packages.ts";

interface CleanOptions extends CommonOptions {
  yes?: boolean;
  all?: boolean;
  workspace?: boolean;
}

/** What a clean removes, as paths inside the data dir. */
export function cleanTargets(
  dataDir: string,
  opts: { all?: boolean; workspace?: boolean },
): string[] {
  if (opts.all) return [dataDir];
  const p = dataPaths(dataDir);
  const targets = [p.db, p.artifact, p.knownPeer, p.peers];
  if (opts.workspace) targets.push(p.workspace);
  return targets;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function confirm(question: string): boolean {
  if (!Deno.stdin.isTerminal()) {
    throw new UserError(
      "refusing to delete without confirmation: stdin is not a terminal. Add --yes.",
    );
  }
  return askYesNo(question);
}

/** Register `clean`. */
export function registerClean(program: Command): void {
  const cmd = program
    .command("clean")
    .description(
      "delete synced data (databases, artifacts, known peers); keeps identity and config",
    )
    .option("-y, --yes", "do not ask for confirmation")
    .option("--workspace", "also delete the workspace copy in the data dir")
    .option("--all", "delete the whole data dir, identity included (its reputation is lost)");
  withDataDir(cmd).action(async (opts: CleanOptions) => {
    const dataDir = dataDirOf(opts);
    const pid = await runningPid(dataDir);
    if (pid) {
      throw new UserError(
        `a node (pid ${pid}) is running on ${dataDir}; stop it first (spore stop).`,
      );
    }
    const targets = [];
    for (const t of cleanTargets(dataDir, opts)) if (await exists(t)) targets.push(t);
    if (targets.length === 0) return console.log("Nothing to clean.");
    console.log("This deletes:\n" + targets.map((t) => `  ${t}`).join("\n"));
    if (opts.all) {
      console.log(
        style("yellow", "The node identity goes too: its reputation cannot be recovered."),
      );
    }
    if (!opts.yes && !confirm("Continue?")) return console.log("Nothing deleted.");
    for (const t of targets) await Deno.remove(t, { recursive: true });
    console.log(`Deleted ${targets.length} item(s).`);
  });
}
