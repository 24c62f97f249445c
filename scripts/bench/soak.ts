/**
 * Soak under hostile load (issue 15): a node process run as `deno task run` (its permissions and
 * 128 MB heap cap, sync-only, loopback) takes 64 hostile connections that send maximum-size
 * frames (10 MiB: an `experiment` envelope around a 10 MiB description) for 60 s, reconnecting
 * whenever they are dropped, while an honest peer streams 20,000 valid records over the same
 * minute. Reports whether all 20,000 were stored, the node's peak heap (from /metrics, sampled
 * every 250 ms) and peak resident memory (VmHWM), what happened to the hostile connections, and
 * whether a new connection still gets `pong` afterwards.
 *
 * Run: deno task bench soak   (or: deno run -A scripts/bench/soak.ts [--quick])
 *   --quick: 16 hostile connections for 15 s, 5,000 records.
 * @module
 */
import { encodeFrame, envelopeRaw, MAX_FRAME_BYTES } from "../../src/protocol/mod.ts";
import { Victim } from "../../tests/e2e/fixtures/victim.ts";
import { benchRecords } from "./lib/records.ts";
import { cpuSeconds } from "./lib/nodes.ts";

const quick = Deno.args.includes("--quick");
const HOSTILE = quick ? 16 : 64;
const ATTACK_MS = quick ? 15_000 : 60_000;
const RECORDS = quick ? 5_000 : 20_000;

/** The largest frame the protocol allows, shaped as an experiment so the node parses it. */
function maximumFrame(): Uint8Array {
  const head = '{"type":"experiment","payload":{"description":"';
  const tail = '"}}';
  const fill = MAX_FRAME_BYTES - head.length - tail.length;
  return encodeFrame(head + "x".repeat(fill) + tail);
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

const stats = { connections: 0, frames: 0, dropped: 0 };
let honestError = "";

/** One hostile slot: connect, send maximum frames until dropped, reconnect, until `end`. */
async function hostile(port: number, frame: Uint8Array, end: number): Promise<void> {
  while (Date.now() < end) {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    stats.connections++;
    const drain = (async () => {
      const buf = new Uint8Array(65536);
      try {
        while ((await conn.read(buf)) !== null) { /* discard */ }
      } catch { /* closed */ }
    })();
    const timer = setTimeout(() => conn.close(), Math.max(0, end - Date.now()));
    try {
      while (Date.now() < end) {
        await writeAll(conn, frame);
        stats.frames++;
      }
    } catch {
      if (Date.now() < end) stats.dropped++; // closed by the node, not by our end-of-attack timer
    } finally {
      clearTimeout(timer);
      try {
        conn.close();
      } catch { /* closed */ }
      await drain;
    }
  }
}

/** The honest peer: `lines` as experiment frames, spread over `spreadMs`. */
async function honest(port: number, lines: string[], spreadMs: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const drain = (async () => {
    const buf = new Uint8Array(65536);
    try {
      while ((await conn.read(buf)) !== null) { /* hello, sync_request, gossip */ }
    } catch { /* closed */ }
  })();
  const BATCH = 500;
  const pause = spreadMs / Math.ceil(lines.length / BATCH);
  for (let i = 0; i < lines.length; i += BATCH) {
    const frames = lines.slice(i, i + BATCH).map((l) => encodeFrame(envelopeRaw("experiment", l)));
    const buf = new Uint8Array(frames.reduce((s, f) => s + f.length, 0));
    let off = 0;
    for (const f of frames) {
      buf.set(f, off);
      off += f.length;
    }
    try {
      await writeAll(conn, buf);
    } catch (e) {
      honestError = `the node closed the honest connection after ${i} records: ${e}`;
      return;
    }
    await new Promise((r) => setTimeout(r, pause));
  }
  // Keep the connection open until the node has everything (closing is not a loss, but the
  // point is a peer that stays).
  return drain.finally(() => {});
}

const lines = await benchRecords(RECORDS);
const frame = maximumFrame();
const v = await Victim.start();
const stopWatch = v.watchHeap(250);
const t0 = performance.now();
const cpu = () => {
  try {
    return cpuSeconds(v.child.pid);
  } catch {
    return NaN; // the process is gone
  }
};
const cpu0 = cpu();
const end = Date.now() + ATTACK_MS;
let honestConn: Promise<void> | undefined;
try {
  const attackers = Array.from({ length: HOSTILE }, () => hostile(v.port, frame, end));
  honestConn = honest(v.port, lines, ATTACK_MS * 2 / 3);
  await Promise.all(attackers);
  const attackSeconds = (performance.now() - t0) / 1000;
  const deadline = Date.now() + 120_000;
  while (v.count() < RECORDS && Date.now() < deadline && !v.exited) {
    await new Promise((r) => setTimeout(r, 250));
  }
  const storedAt = (performance.now() - t0) / 1000;
  const stored = v.exited ? -1 : v.count();
  const alive = !v.exited && await v.pongs();
  await stopWatch();
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(`hostile connections  ${HOSTILE} slots, ${stats.connections} connections made`);
  console.log(
    `attack               ${attackSeconds.toFixed(0)} s, ${stats.frames} maximum frames` +
      ` sent in full (${
        mib(stats.frames * frame.length)
      } MiB), ${stats.dropped} connections closed by the node mid-frame`,
  );
  console.log(
    `honest records       ${stored} of ${RECORDS} stored (all in by ${storedAt.toFixed(1)} s)`,
  );
  console.log(
    `node heap peak       ${mib(v.maxHeap)} MiB (cap ${mib(v.heapCap)} MiB, /metrics every 250 ms)`,
  );
  console.log(`node RSS peak        ${mib(v.peakRss())} MiB (VmHWM)`);
  console.log(`node CPU             ${(cpu() - cpu0).toFixed(1)} s`);
  console.log(`node alive after     ${alive ? "yes (new connection got pong)" : "NO"}`);
  if (v.exited) console.log(`node exited: ${v.stderr.slice(-500)}`);
  if (honestError) {
    console.log(`honest peer          ${honestError}`);
    // Why the node closed it: close reasons other than the hostile ones, from the node's log.
    const hostileReasons = /evicted|receive budget|no valid message|peer closed|write failed/;
    const log = await Deno.readTextFile(`${v.dir}/log/spore.log`).catch(() => "");
    for (const l of log.split("\n")) {
      if (l.includes('"peer down"') && !hostileReasons.test(l)) console.log(`  node log: ${l}`);
    }
  }
  if (stored !== RECORDS || !alive || v.maxHeap >= v.heapCap || honestError) {
    console.error(v.stderr.slice(-3000));
    Deno.exitCode = 1;
  }
} finally {
  await stopWatch();
  await v.stop();
  await honestConn?.catch(() => {});
}
