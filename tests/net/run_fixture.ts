/** Entry used by run_test.ts to start `spore run` in a child process (as main.ts will). */
import { Command } from "commander";
import { registerRun } from "../../src/cli/run.ts";
import { reportError } from "../../src/cli/errors.ts";

const program = new Command("spore").exitOverride();
registerRun(program);
try {
  await program.parseAsync(Deno.args, { from: "user" });
} catch (e) {
  Deno.exit(reportError(e));
}
