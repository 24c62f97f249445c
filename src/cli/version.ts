/**
 * `spore version`.
 * @module
 */
import type { Command } from "commander";
import { AGENT, VERSION } from "../version.ts";
import { withJson } from "./common.ts";
import { printJson } from "./output.ts";

/** Register `version`. */
export function registerVersion(program: Command): void {
  withJson(program.command("version").description("print version information"))
    .action((opts: { json?: boolean }) => {
      const data = {
        version: VERSION,
        agent: AGENT,
        deno: Deno.version.deno,
        protocol: "sporemesh 0.3.x",
      };
      if (opts.json) return printJson(data);
      console.log(`spore ${VERSION} (deno ${Deno.version.deno}, protocol ${data.protocol})`);
    });
}
