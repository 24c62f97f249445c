/**
 * The node's metrics: traffic counters fed by the network's observer, and figures read at
 * scrape time from the node and its databases (peers, records, training runs by outcome,
 * verification and challenge counts, queue depths). Rendered by the explorer's `/metrics`;
 * `/healthz` uses {@link NodeMetrics.health}.
 * @module
 */
import type { NetObserver, NetworkStats } from "../net/mod.ts";
import type { ControlLog, GraphStore } from "../store/mod.ts";
import { CONTROL_TYPES, EXPERIMENT_STATUSES } from "../protocol/mod.ts";
import type { Logger } from "./log.ts";
import { MetricsRegistry, type Sample } from "./metrics.ts";

/** What the metrics read from a running node (a {@link SporeNode} fits). */
export interface MeteredNode {
  readonly nodeId: string;
  readonly stores: {
    readonly graph: Pick<GraphStore, "count" | "statusCounts">;
    readonly control: Pick<ControlLog, "countByType">;
  };
  stats(): NetworkStats;
  readonly network: {
    observe(observer: NetObserver): void;
    readonly pendingRecords: number;
    connections(): readonly { readonly queuedBytes: number }[];
  };
}

/** What `/healthz` answers. */
export interface Health {
  ok: boolean;
  uptime_s: number;
  peers: number;
  records: number;
  error?: string;
}

/** Something the explorer can serve as `/metrics` and `/healthz`. */
export interface MetricsSource {
  render(): string;
  health(): Health;
}

/** Metrics of one node; create it before the node starts talking, then {@link attach}. */
export class NodeMetrics implements MetricsSource {
  readonly registry = new MetricsRegistry();
  readonly #started = performance.now();
  readonly #log: Logger | undefined;
  #node: MeteredNode | undefined;

  /** Traffic observer to hand to the network (counts, and logs drops at debug level). */
  readonly observer: NetObserver;

  constructor(opts: { log?: Logger } = {}) {
    this.#log = opts.log;
    const r = this.registry;
    const msgIn = r.counter("spore_messages_in_total", "Messages received from peers, by type");
    const msgOut = r.counter("spore_messages_out_total", "Messages queued to peers, by type");
    const dropped = r.counter(
      "spore_dropped_total",
      "Messages and records dropped, by reason (invalid_message, invalid_record, store_failed)",
    );
    this.observer = {
      messageIn: (type) => msgIn({ type }),
      messageOut: (type) => msgOut({ type }),
      dropped: (kind, detail) => {
        dropped({ reason: kind });
        // The detail may come from a peer: it goes to the log (bounded by rotation), never
        // into a label.
        this.#log?.debug("dropped", { reason: kind, detail: detail.slice(0, 300) });
      },
    };
    const stat = (pick: (s: NetworkStats) => number) => (): Sample[] =>
      this.#node ? [{ value: pick(this.#node.stats()) }] : [];
    r.collector("spore_peers", "Connected peers", "gauge", stat((s) => s.peers));
    type Announce = NonNullable<NetworkStats["announce"]>;
    const counters: [string, string, (s: NetworkStats) => number][] = [
      ["records_received", "Records received from peers since start", (s) => s.received],
      ["records_stored", "Received records stored since start", (s) => s.stored],
      ["records_duplicate", "Received records already stored", (s) => s.duplicates],
      ["records_invalid", "Received records that failed validation", (s) => s.invalid],
    ];
    // Announce, then pull (zero while flooding): ids announced, bodies asked for and sent.
    const announceCounters: [string, string, keyof Announce][] = [
      ["announce_ids_sent", "Record ids announced to peers, summed over peers", "announcedOut"],
      ["announce_ids_received", "Record ids announced to us, summed over peers", "announcedIn"],
      [
        "records_requested",
        "Record bodies asked of peers (get_records), retries included",
        "requested",
      ],
      ["records_served", "Record bodies sent in answer to peers' get_records", "served"],
      [
        "record_requests_timed_out",
        "Record requests that timed out and went to the next announcer",
        "timeouts",
      ],
      [
        "record_requests_given_up",
        "Announced records given up (every announcer failed or left; a later sync brings them)",
        "gaveUp",
      ],
    ];
    for (const [name, help, key] of announceCounters) {
      counters.push([name, help, (s) => s.announce?.[key] ?? 0]);
    }
    for (const [name, help, pick] of counters) {
      r.collector(`spore_${name}_total`, help, "counter", stat(pick));
    }
    r.collector("spore_graph_records", "Records in the local graph", "gauge", () => [
      { value: this.#count() },
    ]);
    r.collector(
      "spore_training_runs",
      "This node's published experiments, by outcome",
      "gauge",
      () => this.#trainingRuns(),
    );
    r.collector(
      "spore_control_events",
      "Control events in the local log (challenges, verifications, disputes), by type",
      "gauge",
      () => this.#controlEvents(),
    );
    r.collector(
      "spore_queue_records_pending",
      "Records received and waiting for validation or storage",
      "gauge",
      () => this.#node ? [{ value: this.#node.network.pendingRecords }] : [],
    );
    r.collector(
      "spore_queue_send_bytes",
      "Bytes queued to peers, all connections together",
      "gauge",
      () =>
        this.#node
          ? [{
            value: this.#node.network.connections().reduce((n, c) => n + c.queuedBytes, 0),
          }]
          : [],
    );
    // Sync lag: how long since a peer last gave us a record we did not have (with
    // spore_queue_records_pending, the backlog, it tells a stalled sync from a caught-up one).
    let lastStored = -1;
    let lastGrowth = performance.now();
    r.collector(
      "spore_sync_idle_seconds",
      "Seconds since a record from a peer was last stored",
      "gauge",
      () => {
        if (!this.#node) return [];
        const stored = this.#node.stats().stored;
        if (stored !== lastStored) {
          lastStored = stored;
          lastGrowth = performance.now();
        }
        return [{ value: Math.round((performance.now() - lastGrowth) / 1000) }];
      },
    );
    // Memory, so an operator (and tests/e2e/hostile_node_test.ts) can see the heap stay under
    // its cap (the run task's --max-old-space-size=128) while peers misbehave.
    r.gaugeFn("spore_heap_used_bytes", "V8 heap in use", () => Deno.memoryUsage().heapUsed);
    r.gaugeFn(
      "spore_resident_bytes",
      "Resident memory of the process",
      () => Deno.memoryUsage().rss,
    );
    r.gaugeFn(
      "spore_uptime_seconds",
      "Seconds since the metrics started",
      () => Math.round((performance.now() - this.#started) / 1000),
    );
  }

  /** Start observing `node`. */
  attach(node: MeteredNode): void {
    this.#node = node;
    node.network.observe(this.observer);
  }

  /** Prometheus text of every metric. */
  render(): string {
    return this.registry.render();
  }

  /** Liveness: the node is attached and its graph database answers. */
  health(): Health {
    const base = {
      uptime_s: Math.round((performance.now() - this.#started) / 1000),
      peers: this.#node?.stats().peers ?? 0,
    };
    if (!this.#node) return { ok: false, ...base, records: 0, error: "node not started" };
    try {
      return { ok: true, ...base, records: this.#count() };
    } catch (e) {
      return { ok: false, ...base, records: 0, error: `graph database: ${(e as Error).message}` };
    }
  }

  #count(): number {
    return this.#node?.stores.graph.count() ?? 0;
  }

  #trainingRuns(): Sample[] {
    if (!this.#node) return [];
    const by = this.#node.stores.graph.statusCounts(this.#node.nodeId);
    // Every outcome is always present, so a rate() over it never sees a series appear.
    return EXPERIMENT_STATUSES.map((s) => ({ labels: { outcome: s }, value: by.get(s) ?? 0 }));
  }

  #controlEvents(): Sample[] {
    if (!this.#node) return [];
    const by = this.#node.stores.control.countByType();
    // The log accepts only these types, so the label set stays fixed.
    return CONTROL_TYPES.map((t) => ({ labels: { type: t }, value: by.get(t) ?? 0 }));
  }
}
