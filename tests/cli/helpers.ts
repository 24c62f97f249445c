/** Runs the CLI in-process with console output captured. */
import { runCli } from "../../src/cli/main.ts";

/** Output and exit code of one CLI run. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Run `spore <args>` in-process, capturing stdout/stderr written through console and Deno. */
export async function spore(...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const orig = { log: console.log, error: console.error, warn: console.warn };
  const origOut = Deno.stdout.writeSync;
  const origErr = Deno.stderr.writeSync;
  const dec = new TextDecoder();
  console.log = (...a: unknown[]) => out.push(a.map(String).join(" "));
  console.error = (...a: unknown[]) => err.push(a.map(String).join(" "));
  console.warn = console.error;
  // Commander writes help and usage errors straight to the streams.
  const proc =
    (globalThis as { process?: { stdout: { write: unknown }; stderr: { write: unknown } } })
      .process;
  const origProcOut = proc?.stdout.write;
  const origProcErr = proc?.stderr.write;
  if (proc) {
    proc.stdout.write = (s: string) => (out.push(String(s).trimEnd()), true);
    proc.stderr.write = (s: string) => (err.push(String(s).trimEnd()), true);
  }
  Deno.stdout.writeSync = (b: Uint8Array) => (out.push(dec.decode(b)), b.length);
  Deno.stderr.writeSync = (b: Uint8Array) => (err.push(dec.decode(b)), b.length);
  try {
    const code = await runCli(args);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    Object.assign(console, orig);
    Deno.stdout.writeSync = origOut;
    Deno.stderr.writeSync = origErr;
    if (proc) {
      proc.stdout.write = origProcOut;
      proc.stderr.write = origProcErr;
    }
  }
}

/** Run `fn` with a fresh temp dir that is removed afterwards. */
export async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spore-cli-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
