import assert from "node:assert/strict";
import { PLAIN_PROGRESS_MS, StatusLine, terminalColumns } from "../../src/cli/status_line.ts";
import { replayTerminal } from "./terminal.ts";

function terminal(columns = 80) {
  let out = "";
  let now = 0;
  const status = new StatusLine({
    tty: true,
    print: (l) => (out += l + "\n"),
    write: (t) => (out += t),
    columns: () => columns,
    now: () => now,
  });
  return { status, output: () => out, tick: (ms: number) => (now += ms) };
}

const bar = (pct: number) =>
  `[${"#".repeat(pct / 10)}${"-".repeat(10 - pct / 10)}] ${pct}% | step ${pct}`;

Deno.test("status line on a terminal: progress and network share the live line; messages never glue to it", () => {
  const t = terminal();
  t.status.network("peers 0 · graph 0");
  t.status.progress({ label: "baseline", text: bar(10), phase: "training", percent: 10 });
  t.status.log("research: experiment 1 proposed");
  t.status.progress({ label: "baseline", text: bar(50), phase: "training", percent: 50 });
  t.status.network("peers 1 · graph 4");
  t.status.log("published abc");
  const { lines, current } = replayTerminal(t.output());
  assert.deepEqual(lines, ["research: experiment 1 proposed", "published abc"]);
  assert.equal(current, `[baseline] ${bar(50)}  ·  peers 1 · graph 4`);
  t.status.close();
  assert.equal(replayTerminal(t.output()).current, "");
});

Deno.test("status line on a terminal: cut to the terminal's width", () => {
  const t = terminal(40);
  t.status.network("peers 12 · graph 123456 · received 999999 · stored 999999 (120/s)");
  const { current } = replayTerminal(t.output());
  assert.equal(current.length, 39);
  assert.ok(current.endsWith("…"));
});

Deno.test("status line on a pipe: plain lines, no carriage returns; progress every 10% or 30 s", () => {
  const lines: string[] = [];
  let now = 0;
  const status = new StatusLine({ tty: false, print: (l) => lines.push(l), now: () => now });
  status.progress({ label: "baseline", text: "starting", phase: "starting" });
  for (let pct = 1; pct <= 25; pct++) {
    now += 100;
    status.progress({
      label: "baseline",
      text: bar(Math.floor(pct / 10) * 10),
      phase: "training",
      percent: pct,
    });
  }
  now += PLAIN_PROGRESS_MS;
  status.progress({ label: "baseline", text: "26%", phase: "training", percent: 26 });
  status.network("peers 0");
  status.log("done");
  assert.deepEqual(lines, [
    "  [baseline] starting",
    `  [baseline] ${bar(0)}`,
    `  [baseline] ${bar(10)}`,
    `  [baseline] ${bar(20)}`,
    "  [baseline] 26%",
    "peers 0",
    "done",
  ]);
  assert.ok(lines.every((l) => !l.includes("\r")));
});

Deno.test("a terminal that reports no size (script, some containers: 0 x 0) is taken as 100 wide", () => {
  assert.equal(terminalColumns(() => ({ columns: 0 })), 100);
  assert.equal(terminalColumns(() => ({ columns: 132 })), 132);
  assert.equal(
    terminalColumns(() => {
      throw new Deno.errors.BadResource("not a terminal");
    }),
    100,
  );
});
