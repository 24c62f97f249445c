/**
 * User-facing CLI errors: one clear sentence with the next step; stack traces only with
 * SPORE_DEBUG=1.
 * @module
 */
import { style } from "./output.ts";
import { UserError } from "../errors.ts";

export { UserError };

/** Print an error for the user and return the process exit code. */
export function reportError(e: unknown): number {
  const debug = Deno.env.get("SPORE_DEBUG") === "1";
  const err = e instanceof Error ? e : new Error(String(e));
  console.error(`${style("red", "error:")} ${err.message}`);
  if (debug) console.error(err.stack);
  else if (!(err instanceof UserError)) console.error("(run with SPORE_DEBUG=1 for details)");
  return 1;
}
