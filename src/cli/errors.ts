/**
 * User-facing CLI errors: one clear sentence with the next step; stack traces only with
 * SPORE_DEBUG=1.
 * @module
 */
import { style } from "./output.ts";

/** An error whose message is already written for the user. */
export class UserError extends Error {
  override name = "UserError";
}

/** Print an error for the user and return the process exit code. */
export function reportError(e: unknown): number {
  const debug = Deno.env.get("SPORE_DEBUG") === "1";
  const err = e instanceof Error ? e : new Error(String(e));
  console.error(`${style("red", "error:")} ${err.message}`);
  if (debug) console.error(err.stack);
  else if (!isUserFacing(err)) console.error("(run with SPORE_DEBUG=1 for details)");
  return 1;
}

function isUserFacing(err: Error): boolean {
  return ["UserError", "ConfigError", "StoreError"].includes(err.name);
}
