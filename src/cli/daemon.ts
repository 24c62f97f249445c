/**
 * `spore start`, `spore stop` and `spore log`: run the node in the background like a well-kept
 * daemon (one per data dir, pid file, clean stop with escalation, log viewing).
 * @module
 */
import type { Command } from "commander";
import { join } from "node:path";
import { dataPaths, loadConfig } from "../config.ts";
import { selfCommand } from "../ops/launch.ts";
import { isDataDirLocked, readPid } from "../ops/lock.ts";
import { formatLogLine, logFilePath, tailLog } from "../ops/log.ts";
import { type CommonOptions, dataDirOf, positiveInt, withDataDir, withJson } from "./common.ts";
import { UserError } from "./errors.ts";
import { workspaceReadPaths } from "./workspace_options.ts";
import { safetyCatch } from "../errors.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * True while `pid` runs. A no-op signal probes it: reading /proc/<pid> needs --allow-all in
 * Deno, while kill needs only --allow-run (SIGCONT changes nothing for a running process).
 */
/**
 * Send `signal` to `pid`. `Deno.kill` needs unrestricted `--allow-run`; the narrowed profiles
 * (the compiled binary) allow `/bin/sh` instead, so fall back to its `kill` builtin.
 * Returns false when the process does not exist.
 */
function signalProcess(pid: number, signal: Deno.Signal): boolean {
  try {
    Deno.kill(pid, signal);
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) {
      return false;
    }
  }
  const out = new Deno.Command("/bin/sh", {
    args: ["-c", `kill -s ${signal.replace(/^SIG/, "")} ${pid}`],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return out.success;
}

function alive(pid: number): boolean {
  try {
    return signalProcess(pid, "SIGCONT");
  } catch {
    return false;
  }
}

async function waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (pred()) return true;
    await sleep(100);
  }
  return pred();
}

/**
 * What `<data>/peers.json` says about the running node once it listens and its explorer is up
 * (or known to be off): its gossip port and where its explorer is.
 */
function listening(dataDir: string, pid: number): { port: number; explorer: string } | undefined {
  try {
    const v = JSON.parse(Deno.readTextFileSync(dataPaths(dataDir).peers));
    if (v?.pid !== pid || !Number.isInteger(v.port) || typeof v.explorer !== "string") {
      return undefined;
    }
    return { port: v.port, explorer: v.explorer };
  } catch {
    return undefined; // not written yet, or mid-write
  }
}

/** A started background node. */
export interface StartedDaemon {
  pid: number;
  /** Its gossip port. */
  port: number;
  /** Its explorer's URL, or "off ..." with the reason. */
  explorer: string;
}

/**
 * Start `spore run <args>` detached; resolves once it listens on its gossip port.
 * @throws {UserError} when a node already holds the data dir, or the node exits or stalls.
 */
export async function startDaemon(
  dataDir: string,
  runArgs: string[],
  timeoutMs = 120_000,
): Promise<StartedDaemon> {
  if (isDataDirLocked(dataDir)) {
    throw new UserError(
      `a node is already running on ${dataDir} (pid ${readPid(dataDir) ?? "?"}). ` +
        `Stop it with \`spore stop --data-dir ${dataDir}\` first.`,
    );
  }
  const logDir = dataPaths(dataDir).log;
  await Deno.mkdir(logDir, { recursive: true });
  const consolePath = join(logDir, "console.log");
  const before = await Deno.stat(consolePath).then((s) => s.size).catch(() => 0);
  const { cmd, args } = selfCommand(
    dataDir,
    undefined,
    await workspaceReadPaths(runArgs, await loadConfig(dataDir)),
  );
  // The shell gives the node a file as stdout/stderr (a pipe to this short-lived process would
  // break once it exits, and with it the node's next console line), stays as its parent and
  // notes how it ended, so a node that vanished (OOM killer, kill -9) is explained in the log.
  const child = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      '"$@" </dev/null >>"$SPORE_CONSOLE_LOG" 2>&1 & echo $!; wait $!; s=$?; ' +
      'echo "spore: the node exited with status $s$([ $s -gt 128 ] && echo " (signal $((s - 128)))")" ' +
      '>>"$SPORE_CONSOLE_LOG"',
      "spore-daemon",
      cmd,
      ...args,
      "run",
      "--data-dir",
      dataDir,
      ...runArgs,
    ],
    stdin: "null",
    stdout: "piped", // the node's pid, then nothing
    stderr: "null",
    detached: true,
    env: { NO_COLOR: "1", SPORE_DAEMON: "1", SPORE_CONSOLE_LOG: consolePath },
  }).spawn();
  let exited = false;
  child.status.then(() => (exited = true));
  // The first line the shell prints is the node's pid: matching it ignores a stale pid file or
  // peers.json left by an earlier run.
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pid: number | undefined;
  let buffered = "";
  const pidRead = (async () => {
    while (!buffered.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
    }
    const n = Number(buffered.split("\n")[0]);
    if (Number.isInteger(n) && n > 0) pid = n;
    await reader.cancel().catch(safetyCatch);
  })();
  let up: { port: number; explorer: string } | undefined;
  await waitFor(() => {
    if (exited) return true;
    if (pid !== undefined) up = listening(dataDir, pid);
    return up !== undefined;
  }, timeoutMs);
  await Promise.race([pidRead, sleep(100)]);
  if (up === undefined || pid === undefined) {
    if (!exited) {
      // Stalled: do not leave a half-started node behind (the shell then exits too).
      try {
        signalProcess(pid ?? child.pid, "SIGKILL");
      } catch (e) {
        safetyCatch(e); // exited meanwhile
      }
      await child.status;
    }
    const text = await Deno.readTextFile(consolePath).catch(() => "");
    const tail = text.slice(before).trim().split("\n").slice(-5).join("\n");
    throw new UserError(
      `the node did not start (${
        exited ? "it exited" : `not listening after ${timeoutMs / 1000}s`
      }). ` +
        `Its last output (${consolePath}):\n${tail || "(none)"}`,
    );
  }
  child.unref();
  return { pid, ...up };
}

/** Stop the node on a data dir: SIGTERM, wait, then SIGKILL. Returns what happened. */
export async function stopDaemon(dataDir: string, timeoutMs = 15_000): Promise<string> {
  const pid = readPid(dataDir);
  const pidFile = dataPaths(dataDir).pid;
  if (!isDataDirLocked(dataDir)) {
    if (pid) {
      await Deno.remove(pidFile).catch(safetyCatch);
      return `No node was running (removed a stale pid file for pid ${pid}).`;
    }
    return "No node is running on this data dir.";
  }
  if (!pid || !alive(pid)) {
    throw new UserError(
      `the data dir is locked but ${pidFile} names no live process; find the node with \`ps\`.`,
    );
  }
  signalProcess(pid, "SIGTERM");
  let outcome: string;
  if (await waitFor(() => !alive(pid), timeoutMs)) {
    outcome = `Stopped node (pid ${pid}).`;
  } else {
    signalProcess(pid, "SIGKILL");
    await waitFor(() => !alive(pid), 5_000);
    outcome = `The node (pid ${pid}) did not stop within ${timeoutMs / 1000}s and was killed ` +
      `(SIGKILL). Received records are durable; it resumes on the next start.`;
  }
  // A node stopped before it installed its signal handlers (still starting) or killed leaves
  // its pid file behind; the free lock shows it is stale.
  if (readPid(dataDir) === pid && !isDataDirLocked(dataDir)) {
    await Deno.remove(pidFile).catch(safetyCatch);
  }
  return outcome;
}

/** Register `start`, `stop` and `log`. */
export function registerDaemon(program: Command): void {
  const start = program
    .command("start")
    .description("start the node in the background (same options as `spore run`)")
    .allowUnknownOption(true)
    .helpOption("-h, --help", "show help; see `spore run --help` for the node options")
    .argument("[run-options...]", "options passed to `spore run`");
  withDataDir(start).action(async (runArgs: string[], opts: CommonOptions) => {
    const dataDir = dataDirOf(opts);
    const { pid, port, explorer } = await startDaemon(dataDir, runArgs);
    console.log(`Node started in the background (pid ${pid}, gossip port ${port}).`);
    console.log(`  explorer: ${explorer}`);
    console.log(`  log:  spore log -f --data-dir ${dataDir}`);
    console.log(`  stop: spore stop --data-dir ${dataDir}`);
  });

  const stop = program
    .command("stop")
    .description("stop the background node (SIGTERM, then SIGKILL after --timeout)")
    .option("--timeout <s>", "seconds to wait for a clean exit", positiveInt("--timeout"), 15);
  withDataDir(stop).action(async (opts: CommonOptions & { timeout: number }) => {
    console.log(await stopDaemon(dataDirOf(opts), opts.timeout * 1000));
  });

  const log = program
    .command("log")
    .description("show the node log")
    .option("-n, --lines <n>", "lines to show", positiveInt("--lines"), 50)
    .option("-f, --follow", "keep printing new lines");
  withJson(withDataDir(log)).action(
    async (opts: CommonOptions & { lines: number; follow?: boolean }) => {
      const dir = dataPaths(dataDirOf(opts)).log;
      const lines = await tailLog(dir, opts.lines);
      if (lines.length === 0 && !opts.follow) {
        throw new UserError(
          `no log yet in ${dir}. Start the node with \`spore run\` or \`spore start\`.`,
        );
      }
      // --json: the stored JSON lines as they are, for scripts.
      const show = opts.json ? (l: string) => l : formatLogLine;
      for (const l of lines) console.log(show(l));
      if (opts.follow) await follow(logFilePath(dir), show);
    },
  );
}

async function follow(path: string, show: (line: string) => string): Promise<never> {
  let offset = await Deno.stat(path).then((s) => s.size).catch(() => 0);
  const dec = new TextDecoder();
  let partial = ""; // a line the node has not finished writing yet
  for (;;) {
    await sleep(500);
    const size = await Deno.stat(path).then((s) => s.size).catch(() => 0);
    if (size < offset) offset = 0; // rotated
    if (size === offset) continue;
    const f = await Deno.open(path);
    await f.seek(offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(size - offset);
    let read = 0;
    while (read < buf.length) {
      const n = await f.read(buf.subarray(read));
      if (n === null) break;
      read += n;
    }
    f.close();
    offset += read;
    const lines = (partial + dec.decode(buf.subarray(0, read), { stream: true })).split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) if (l !== "") console.log(show(l));
  }
}
