import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { MetricsRegistry } from "../../src/ops/metrics.ts";

Deno.test("metrics render in a format a Prometheus parser reads back", () => {
  const m = new MetricsRegistry();
  const msgs = m.counter("spore_messages_in_total", "Messages received, by type");
  const peers = m.gauge("spore_peers", "Connected peers");
  m.gaugeFn("spore_records", "Stored records", () => 42);
  msgs({ type: "experiment" });
  msgs({ type: "experiment" }, 2);
  msgs({ type: 'we"ird\\' });
  peers(3);
  const parsed = parsePrometheusTextFormat(m.render()) as {
    name: string;
    type: string;
    metrics: { value: string; labels?: Record<string, string> }[];
  }[];
  const byName = Object.fromEntries(parsed.map((f) => [f.name, f]));
  const messages = byName.spore_messages_in_total;
  assert.equal(messages?.type, "COUNTER");
  const exp = messages?.metrics.find((x) => x.labels?.type === "experiment");
  assert.equal(exp?.value, "3");
  assert.ok(messages?.metrics.some((x) => x.labels?.type === 'we"ird\\'));
  assert.equal(byName.spore_peers?.metrics[0]?.value, "3");
  assert.equal(byName.spore_records?.metrics[0]?.value, "42");
  assert.equal(m.value("spore_messages_in_total", { type: "experiment" }), 3);
  assert.throws(() => m.counter("bad name", "x"), RangeError);
});
