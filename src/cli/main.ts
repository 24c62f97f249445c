/**
 * The `spore` command line: builds the command tree and runs it.
 * @module
 */
import { Command, CommanderError } from "commander";
import { reportError } from "./errors.ts";
import { VERSION } from "../version.ts";
import { registerCommands } from "./commands.ts";

/** Build the full command tree (exported for tests and help generation). */
export function buildProgram(): Command {
  const program = new Command("spore")
    .description("Spore: a peer-to-peer network for autonomous ML research")
    .version(VERSION, "-V, --version", "print the version")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  registerCommands(program);
  return program;
}

/** Run the CLI with `args` (without the program name); returns the exit code. */
export async function runCli(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has already printed its message (help, version, or a usage error).
      return e.exitCode;
    }
    return reportError(e);
  }
}
