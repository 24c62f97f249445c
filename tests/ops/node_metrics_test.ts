/**
 * `/metrics` and `/healthz` on a real explorer server while two loopback nodes exchange records;
 * the page is read back with an npm Prometheus parser.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { NodeMetrics } from "../../src/ops/node_metrics.ts";
import type { Logger } from "../../src/ops/log.ts";
import { startExplorer } from "../../src/explorer/server.ts";
import { envelopeRaw, recordJson } from "../../src/protocol/mod.ts";
import { makeRecords, RawPeer, signedChallenge, startNode, waitFor } from "../net/helpers.ts";

interface Family {
  name: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

async function scrape(
  url: string,
): Promise<(name: string, labels?: Record<string, string>) => number> {
  const res = await fetch(`${url}metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(await res.text()) as Family[];
  const byName = new Map(families.map((f) => [f.name, f]));
  return (name, labels = {}) => {
    const f = byName.get(name);
    assert.ok(f, `metric ${name} missing`);
    const m = f.metrics.find((x) =>
      Object.entries(labels).every(([k, v]) => x.labels?.[k] === v) &&
      Object.keys(x.labels ?? {}).length === Object.keys(labels).length
    );
    return m ? Number(m.value) : 0;
  };
}

Deno.test("metrics: counters move as two nodes exchange records; healthz answers", async () => {
  const a = await startNode();
  const b = await startNode();
  const logged: { level: string; msg: string; fields?: Record<string, unknown> | undefined }[] = [];
  const log: Logger = {
    log: (level, msg, fields) => logged.push({ level, msg, fields }),
    debug: (msg, fields) => logged.push({ level: "debug", msg, fields }),
    info: (msg, fields) => logged.push({ level: "info", msg, fields }),
    warn: (msg, fields) => logged.push({ level: "warn", msg, fields }),
    error: (msg, fields) => logged.push({ level: "error", msg, fields }),
    close: () => {},
  };
  const metrics = new NodeMetrics({ log });
  metrics.attach(a.node);
  const explorer = await startExplorer(a.node, { host: "127.0.0.1", port: 0, metrics });
  let bad: RawPeer | undefined;
  try {
    const m0 = await scrape(explorer.url);
    assert.equal(m0("spore_peers"), 0);
    assert.equal(m0("spore_graph_records"), 0);
    assert.equal(m0("spore_messages_in_total", { type: "experiment" }), 0);

    // A's own experiments count as its training runs, by outcome.
    const own = makeRecords(6, a.keys, { tag: "own" });
    for (const r of own) await a.node.publish(r);

    b.node.network.connect(a.address);
    await waitFor(() => a.node.stats().peers === 1, "peer connection");
    const fromB = makeRecords(50, b.keys, { tag: "b", t0: 1_800_000_000 });
    for (const r of fromB) await b.node.publish(r);
    await waitFor(() => a.node.stores.graph.count() === 56, "A to store B's records");
    await waitFor(() => b.node.stores.graph.count() === 56, "B to sync A's records");

    // A peer sending garbage: one unparsable message and one record with a bad signature.
    bad = await RawPeer.connect(a.node.port);
    await bad.sendJson("{not json");
    const forged = { ...makeRecords(1, b.keys, { tag: "forged" })[0]!, signature: "0".repeat(128) };
    await bad.sendJson(envelopeRaw("experiment", recordJson(forged)));
    await waitFor(() => a.node.stats().invalid === 1, "the forged record to be rejected");

    // One signed challenge from B, logged by A.
    const challenge = signedChallenge(fromB[0]!.id, b.keys);
    assert.equal(await b.node.broadcastControl(challenge), true);
    await waitFor(
      () => a.node.stores.control.has("challenge", challenge.payload.event_id),
      "A to log B's challenge",
    );

    const m1 = await scrape(explorer.url);
    assert.ok(m1("spore_peers") >= 1);
    assert.equal(m1("spore_graph_records"), 56);
    assert.ok(m1("spore_messages_in_total", { type: "experiment" }) >= 50);
    assert.ok(m1("spore_messages_in_total", { type: "hello" }) >= 1);
    assert.ok(m1("spore_messages_out_total", { type: "hello" }) >= 1);
    // A relays its own records to B, by live gossip or sync.
    assert.ok(m1("spore_messages_out_total", { type: "experiment" }) >= 6);
    assert.equal(m1("spore_records_stored_total"), 50);
    assert.equal(m1("spore_records_invalid_total"), 1);
    assert.equal(m1("spore_dropped_total", { reason: "invalid_message" }), 1);
    assert.equal(m1("spore_dropped_total", { reason: "invalid_record" }), 1);
    const keeps = own.filter((r) => r.status === "keep").length;
    assert.equal(m1("spore_training_runs", { outcome: "keep" }), keeps);
    assert.equal(m1("spore_training_runs", { outcome: "discard" }), own.length - keeps);
    assert.equal(m1("spore_training_runs", { outcome: "crash" }), 0);
    assert.equal(m1("spore_control_events", { type: "challenge" }), 1);
    assert.equal(m1("spore_control_events", { type: "dispute" }), 0);
    assert.equal(m1("spore_queue_records_pending"), 0);
    // Records were stored moments ago: the sync is not idle.
    const idle = m1("spore_sync_idle_seconds");
    assert.ok(idle >= 0 && idle < 30, `sync idle ${idle}s`);

    // The log has the specific reasons the metric labels leave out.
    const drops = logged.filter((e) => e.msg === "dropped");
    assert.equal(drops.length, 2);
    assert.ok(drops.every((e) => e.level === "debug" && typeof e.fields?.detail === "string"));
    assert.match(
      String(drops.find((e) => e.fields?.reason === "invalid_record")?.fields?.detail),
      /signature/,
    );

    const health = await fetch(`${explorer.url}healthz`);
    assert.equal(health.status, 200);
    const h = await health.json();
    assert.equal(h.ok, true);
    assert.equal(h.records, 56);
    assert.ok(h.peers >= 1);
  } finally {
    await bad?.close();
    await explorer.close();
    await b.stop();
    await a.stop();
  }
});

Deno.test("health: not ok until a node is attached", () => {
  const metrics = new NodeMetrics();
  const h = metrics.health();
  assert.equal(h.ok, false);
  assert.match(h.error ?? "", /not started/);
  // Node figures are absent, not zero, before a node exists.
  assert.doesNotMatch(metrics.render(), /^spore_peers /m);
});
