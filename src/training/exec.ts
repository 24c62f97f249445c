/**
 * Run a short helper command and capture its output, with a timeout. Injected into discovery and
 * GPU detection so tests can fake the machine.
 * @module
 */

/** Captured result of a finished command. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args`; resolves `null` when the program does not exist or cannot be started. */
export type Exec = (
  cmd: string,
  args: string[],
  opts?: { timeoutMs?: number; env?: Record<string, string>; cwd?: string },
) => Promise<ExecResult | null>;

/** Cap on captured output: helpers print a few lines; anything more is not worth keeping. */
const MAX_CAPTURE = 1 << 20;

/** The real `Exec`, on `Deno.Command`. A timed-out command is killed and reported as code 124. */
export const execCommand: Exec = async (cmd, args, opts = {}) => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? 60_000);
  try {
    const out = await new Deno.Command(cmd, {
      args,
      ...(opts.env === undefined ? {} : { env: opts.env }),
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const dec = new TextDecoder();
    return {
      code: controller.signal.aborted ? 124 : out.code,
      stdout: dec.decode(out.stdout.subarray(0, MAX_CAPTURE)),
      stderr: dec.decode(out.stderr.subarray(0, MAX_CAPTURE)),
    };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) return null;
    throw e;
  } finally {
    clearTimeout(timer);
  }
};
