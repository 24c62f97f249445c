/**
 * Options and helpers shared by every command.
 * @module
 */
import { type Command, Option } from "commander";
import { resolveDataDir } from "../config.ts";
import { UserError } from "./errors.ts";
import { type MemoryLimit, parseMemoryLimit } from "../training/memory.ts";

/** Options every command accepts. */
export interface CommonOptions {
  dataDir?: string;
  json?: boolean;
}

/** Add `--data-dir` to a command (every command has it). */
export function withDataDir(cmd: Command): Command {
  return cmd.addOption(
    new Option("--data-dir <dir>", "data directory (default: $SPORE_HOME or ~/.spore)"),
  );
}

/** Add `--json` to a command whose output a script may want. */
export function withJson(cmd: Command): Command {
  return cmd.option("--json", "print machine-readable JSON");
}

/** The data dir for a command's options. */
export function dataDirOf(opts: CommonOptions): string {
  return resolveDataDir(opts.dataDir);
}

/** Parser of `--train-memory-limit` (50%, 4096MiB, 8GiB or none). */
export function memoryLimitFlag(value: string): MemoryLimit {
  const m = parseMemoryLimit(value);
  if ("error" in m) throw new Error(`--train-memory-limit: ${m.error}`);
  return m;
}

/** Parse a positive integer option, with a clear error. */
export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      throw new Error(`${name} must be a positive integer, got "${value}"`);
    }
    return n;
  };
}

/** Parser of a TCP port option (`--port`, `--web-port`): 0 to 65535, with a clear error. */
export function portNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d{1,5}$/.test(value) || n > 65535) {
      throw new UserError(`${name} must be a number from 0 to 65535, got "${value}"`);
    }
    return n;
  };
}
