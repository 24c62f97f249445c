import assert from "node:assert/strict";
import { FileLogger, formatLogLine, parseLogLevel, tailLog } from "../../src/ops/log.ts";

Deno.test("log lines are JSON with level filtering", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = new FileLogger({ dir, level: "info", now: () => new Date(0) });
    log.debug("hidden");
    log.info("peer up", { address: "127.0.0.1:7470" });
    log.warn("dropped", { reason: "bad signature" });
    log.close();
    const lines = (await Deno.readTextFile(`${dir}/spore.log`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(lines, [
      { ts: "1970-01-01T00:00:00.000Z", level: "info", msg: "peer up", address: "127.0.0.1:7470" },
      { ts: "1970-01-01T00:00:00.000Z", level: "warn", msg: "dropped", reason: "bad signature" },
    ]);
    assert.equal((await Deno.stat(`${dir}/spore.log`)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the log rotates at the size limit and keeps only the configured count", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = new FileLogger({ dir, maxBytes: 1000, keep: 3 });
    for (let i = 0; i < 200; i++) log.info("entry", { i, pad: "x".repeat(50) });
    log.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["spore.log", "spore.log.1", "spore.log.2", "spore.log.3"]);
    for (const n of names) assert.ok((await Deno.stat(`${dir}/${n}`)).size <= 1000, n);
    const last = await tailLog(dir, 3);
    assert.deepEqual(last.map((l) => JSON.parse(l).i), [197, 198, 199]);
    // Entries are contiguous across the rotation boundary.
    const both = (await Deno.readTextFile(`${dir}/spore.log.1`) +
      await Deno.readTextFile(`${dir}/spore.log`)).trim().split("\n").map((l) => JSON.parse(l).i);
    for (let k = 1; k < both.length; k++) assert.equal(both[k], both[k - 1] + 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log levels parse with a clear error", () => {
  assert.equal(parseLogLevel("DEBUG"), "debug");
  assert.throws(() => parseLogLevel("loud"), /must be one of debug, info, warn, error/);
});

Deno.test("spore log shows entries as readable lines, foreign lines as they are", () => {
  assert.equal(
    formatLogLine(
      JSON.stringify({
        ts: "2026-12-01T09:12:03.123Z",
        level: "warn",
        msg: "dial failed",
        address: "peer.example:7470",
        error: "dns: no such host",
        attempt: 3,
      }),
    ),
    '2026-12-01 09:12:03.123 WARN  dial failed address=peer.example:7470 error="dns: no such host" attempt=3',
  );
  assert.equal(
    formatLogLine("spore: the node exited with status 137"),
    "spore: the node exited with status 137",
  );
  assert.equal(formatLogLine("[1,2]"), "[1,2]");
  assert.equal(formatLogLine('{"msg":"no ts"}'), '{"msg":"no ts"}');
});
