/**
 * `spore version`.
 * @module
 */
import type { Command } from "commander";
import { AGENT, VERSION } from "../version.ts";
import { dataDirOf, withDataDir, withJson } from "./common.ts";
import { printJson } from "./output.ts";

/** Register `version`. */
export function registerVersion(program: Command): void {
  // --data-dir is accepted like on every command; the data dir is shown, nothing is read.
  withJson(withDataDir(program.command("version").description("print version information")))
    .action((opts: { json?: boolean; dataDir?: string }) => {
      const data = {
        version: VERSION,
        agent: AGENT,
        deno: Deno.version.deno,
        protocol: "sporemesh 0.3.x",
        data_dir: dataDirOf(opts),
      };
      if (opts.json) return printJson(data);
      console.log(`spore ${VERSION} (deno ${Deno.version.deno}, protocol ${data.protocol})`);
      console.log(`data dir ${data.data_dir}`);
    });
}
