/**
 * Entry point of the `spore` binary: parse argv and dispatch to the CLI.
 * @module
 */
import { runCli } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
