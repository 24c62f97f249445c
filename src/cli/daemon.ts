/**
 * `spore start`, `spore stop` and `spore log`: run the node in the background like a well-kept
 * daemon (one per data dir, pid file, clean stop with escalation, log viewing).
 * @module
 */
import type { Command } from "commander";
import { join } from "node:path";
import { dataPaths } from "../config.ts";
import { selfCommand } from "../ops/launch.ts";
import { isDataDirLocked, readPid } from "../ops/lock.ts";
import { tailLog } from "../ops/log.ts";
import { type CommonOptions, dataDirOf, positiveInt, withDataDir } from "./common.ts";
import { UserError } from "./errors.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
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

/** Start `spore run <args>` detached; resolves with its pid once it holds the data dir. */
export async function startDaemon(dataDir: string, runArgs: string[], timeoutMs = 30_000): Promise<number> {
  if (isDataDirLocked(dataDir)) {
    throw new UserError(`a node is already running on ${dataDir} (pid ${readPid(dataDir) ?? "?"}). Use \`spore stop\` first.`);
  }
  const logDir = dataPaths(dataDir).log;
  await Deno.mkdir(logDir, { recursive: true });
  const consolePath = join(logDir, "console.log");
  const out = await Deno.open(consolePath, { append: true, create: true, mode: 0o600 });
  const { cmd, args } = selfCommand();
  const child = new Deno.Command(cmd, {
    args: [...args, "run", "--data-dir", dataDir, ...runArgs],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
    env: { NO_COLOR: "1", SPORE_DAEMON: "1" },
  }).spawn();
  // Copy the child's console into console.log until we detach from it.
  const pumps = [child.stdout, child.stderr].map((s) => s.pipeTo(out.writable, { preventClose: true }).catch(() => {}));
  let exited = false;
  child.status.then(() => (exited = true));
  const started = await waitFor(() => exited || readPid(dataDir) === child.pid, timeoutMs);
  if (!started || exited) {
    await Promise.race([Promise.all(pumps), sleep(500)]);
    out.close();
    const tail = (await Deno.readTextFile(consolePath)).trim().split("\n").slice(-5).join("\n");
    throw new UserError(`the node did not start${exited ? " (it exited)" : ""}. Last output:\n${tail}`);
  }
  child.unref();
  return child.pid;
}

/** Stop the node on a data dir: SIGTERM, wait, then SIGKILL. Returns what happened. */
export async function stopDaemon(dataDir: string, timeoutMs = 15_000): Promise<string> {
  const pid = readPid(dataDir);
  if (!isDataDirLocked(dataDir)) {
    if (pid) {
      await Deno.remove(dataPaths(dataDir).pid).catch(() => {});
      return `No node was running (removed a stale pid file for pid ${pid}).`;
    }
    return "No node is running on this data dir.";
  }
  if (!pid || !alive(pid)) throw new UserError(`the data dir is locked but ${dataPaths(dataDir).pid} names no live process; find the node with \`ps\`.`);
  Deno.kill(pid, "SIGTERM");
  if (await waitFor(() => !alive(pid), timeoutMs)) return `Stopped node (pid ${pid}).`;
  Deno.kill(pid, "SIGKILL");
  await waitFor(() => !alive(pid), 5_000);
  return `The node (pid ${pid}) did not stop within ${timeoutMs / 1000}s and was killed (SIGKILL). Received records are durable; it resumes on the next start.`;
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
    const pid = await startDaemon(dataDir, runArgs);
    console.log(`Node started in the background (pid ${pid}).`);
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
  withDataDir(log).action(async (opts: CommonOptions & { lines: number; follow?: boolean }) => {
    const dir = dataPaths(dataDirOf(opts)).log;
    const lines = await tailLog(dir, opts.lines);
    if (lines.length === 0 && !opts.follow) {
      throw new UserError(`no log yet in ${dir}. Start the node with \`spore run\` or \`spore start\`.`);
    }
    for (const l of lines) console.log(l);
    if (opts.follow) await follow(join(dir, "spore.log"));
  });
}

async function follow(path: string): Promise<never> {
  let offset = await Deno.stat(path).then((s) => s.size).catch(() => 0);
  const dec = new TextDecoder();
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
    await Deno.stdout.write(new TextEncoder().encode(dec.decode(buf.subarray(0, read))));
  }
}
