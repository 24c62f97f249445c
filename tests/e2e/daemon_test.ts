/**
 * `spore start` / `stop` / `log` with real processes: the CLI from main.ts, a detached node on
 * loopback, signals and pid files as an operator would meet them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();
/** The flags of `deno task spore`, which operators use for start/stop/log. */
const SPORE_TASK_FLAGS: string[] = String(
  JSON.parse(Deno.readTextFileSync(new URL("../../deno.json", import.meta.url))).tasks.spore,
).split(/\s+/).filter((w) => w.startsWith("--allow-") || w === "-A");

/** Run `spore <args>` to completion (bounded); returns exit code and output. */
async function spore(args: string[], timeoutMs = 60_000) {
  const out = await new Deno.Command(Deno.execPath(), {
    // Not -A: some calls (reading /proc, for one) are refused without it.
    args: ["run", ...SPORE_TASK_FLAGS, MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function nodeArgs(dir: string): string[] {
  return [
    "--genesis",
    "--no-train",
    "--no-explorer",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--data-dir",
    dir,
  ];
}

/** Liveness without /proc (which needs --allow-all): a signal that changes nothing. */
function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** Command line of a process, via ps (reading /proc/<pid> needs --allow-all). */
async function commandLine(pid: number): Promise<string> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "args=", "-p", String(pid)],
    stdout: "piped",
  })
    .output();
  return new TextDecoder().decode(out.stdout).trim();
}

async function waitGone(pid: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > end) throw new Error(`pid ${pid} still alive`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function pidFile(dir: string): number | undefined {
  try {
    return Number(Deno.readTextFileSync(join(dir, "spore.pid")).trim());
  } catch {
    return undefined;
  }
}

/** Started pids, killed in `finally` whatever the test did. */
async function withDataDir(fn: (dir: string, pids: number[]) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spore-daemon-" });
  const pids: number[] = [];
  try {
    await fn(dir, pids);
  } finally {
    for (const pid of pids) {
      if (alive(pid)) Deno.kill(pid, "SIGKILL");
      await waitGone(pid).catch(() => {});
    }
    await Deno.remove(dir, { recursive: true });
  }
}

/** Wait until the daemon's console log matches `re` (the shell notes the exit just after it). */
async function consoleSays(dir: string, re: RegExp): Promise<string> {
  const end = Date.now() + 10_000;
  for (;;) {
    const text = await Deno.readTextFile(join(dir, "log", "console.log"));
    if (re.test(text)) return text;
    if (Date.now() > end) throw new Error(`console.log never matched ${re}:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startedPid(stdout: string): number {
  const m = /started in the background \(pid (\d+), gossip port (\d+)\)/.exec(stdout);
  assert.ok(m, `unexpected start output: ${stdout}`);
  return Number(m[1]);
}

Deno.test("daemon: start, refuse a second start, log -n, stop cleanly", async () => {
  await withDataDir(async (dir, pids) => {
    // With its explorer on a free port: `start` says where it is.
    const withExplorer = [...nodeArgs(dir).filter((a) => a !== "--no-explorer"), "-w", "0"];
    const first = await spore(["start", ...withExplorer]);
    assert.equal(first.code, 0, first.stderr);
    const pid = startedPid(first.stdout);
    pids.push(pid);
    const url = /explorer: (http:\/\/127\.0\.0\.1:\d+\/?)/.exec(first.stdout)?.[1];
    assert.ok(url, first.stdout);
    const stat = await fetch(new URL("/api/stat", url));
    assert.equal(stat.status, 200);
    assert.equal((await stat.json()).experiment_count, 0);
    assert.equal(pidFile(dir), pid);
    assert.ok(
      alive(pid),
      `the node died: ${Deno.readTextFileSync(join(dir, "log", "console.log"))}`,
    );
    // The background node runs under the narrowed profile, with this data dir substituted.
    const cmdline = (await commandLine(pid)).split(" ");
    assert.ok(cmdline.includes(`--allow-write=${dir},/tmp`), cmdline.join(" "));
    assert.ok(!cmdline.includes("-A") && !cmdline.includes("--allow-run"), cmdline.join(" "));
    const port = Number(/gossip port (\d+)/.exec(first.stdout)![1]);
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();

    const second = await spore(["start", ...nodeArgs(dir)]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`already running on .* \\(pid ${pid}\\)`));
    assert.match(second.stderr, /spore stop --data-dir/);
    assert.equal(pidFile(dir), pid, "the refused start must not touch the pid file");

    const log = await spore(["log", "-n", "1", "--json", "--data-dir", dir]);
    assert.equal(log.code, 0, log.stderr);
    const lines = log.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.msg, "node started");
    assert.equal(entry.port, port);
    const readable = await spore(["log", "-n", "1", "--data-dir", dir]);
    assert.match(
      readable.stdout.trim(),
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  node started .*port=${port}`,
      ),
    );

    const stop = await spore(["stop", "--data-dir", dir]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout.trim(), `Stopped node (pid ${pid}).`);
    assert.equal(alive(pid), false);
    assert.equal(pidFile(dir), undefined, "a clean stop removes the pid file");
    const tail = await spore(["log", "-n", "2", "--json", "--data-dir", dir]);
    assert.equal(JSON.parse(tail.stdout.trim().split("\n").at(-1)!).msg, "node stopped");
    const console = await consoleSays(dir, /the node exited with status 0\n/);
    assert.match(console, /stopped\. 0 published by this node, 0 records stored from peers/);

    const again = await spore(["stop", "--data-dir", dir]);
    assert.equal(again.stdout.trim(), "No node is running on this data dir.");
  });
});

Deno.test("daemon: a stale pid file is cleaned up; start works after kill -9", async () => {
  await withDataDir(async (dir, pids) => {
    // A pid that surely names no process: one that has exited and been reaped.
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    Deno.writeTextFileSync(join(dir, "spore.pid"), `${gone.pid}\n`);
    const stale = await spore(["stop", "--data-dir", dir]);
    assert.equal(stale.code, 0, stale.stderr);
    assert.match(stale.stdout, new RegExp(`removed a stale pid file for pid ${gone.pid}`));
    assert.equal(pidFile(dir), undefined);

    const first = await spore(["start", ...nodeArgs(dir)]);
    assert.equal(first.code, 0, first.stderr);
    const pid = startedPid(first.stdout);
    pids.push(pid);
    Deno.kill(pid, "SIGKILL");
    await waitGone(pid);
    assert.equal(pidFile(dir), pid, "kill -9 leaves the pid file behind");
    await consoleSays(dir, /the node exited with status 137 \(signal 9\)/);

    const second = await spore(["start", ...nodeArgs(dir)]);
    assert.equal(second.code, 0, second.stderr);
    const pid2 = startedPid(second.stdout);
    pids.push(pid2);
    assert.notEqual(pid2, pid);
    assert.equal(pidFile(dir), pid2);
    const stop = await spore(["stop", "--data-dir", dir]);
    assert.equal(stop.stdout.trim(), `Stopped node (pid ${pid2}).`);
  });
});

Deno.test("daemon: a node that cannot start is reported with its output", async () => {
  await withDataDir(async (dir) => {
    const res = await spore(["start", ...nodeArgs(dir), "--log-level", "loud"]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /the node did not start \(it exited\)/);
    assert.match(res.stderr, /log level must be one of/);
    assert.equal(pidFile(dir), undefined);
  });
});

Deno.test("daemon: log without a log says how to start a node", async () => {
  await withDataDir(async (dir) => {
    const res = await spore(["log", "-n", "5", "--data-dir", dir]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /no log yet in .*spore start/);
  });
});
