/**
 * How to start this program again as a child process: the compiled binary runs itself; from a
 * checkout, `deno run` with the same permission flags as `deno task run`.
 * @module
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

/** Permission flags of `deno task run` (kept equal to deno.json by a test). */
export const RUN_PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
];

/** True when running as a `deno compile` binary rather than under `deno run`. */
export function isCompiled(execPath = Deno.execPath()): boolean {
  return !/^deno(\.exe)?$/.test(basename(execPath));
}

/** Command and leading arguments that re-run this CLI (append the subcommand and its args). */
export function selfCommand(mainModule = Deno.mainModule): { cmd: string; args: string[] } {
  if (isCompiled()) return { cmd: Deno.execPath(), args: [] };
  const main = mainModule.startsWith("file:") ? fileURLToPath(mainModule) : mainModule;
  return { cmd: Deno.execPath(), args: ["run", ...RUN_PERMISSIONS, main] };
}
