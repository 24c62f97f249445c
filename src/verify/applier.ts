/**
 * Applies control events to the reputation ledger exactly once per node, whatever order and
 * however many times they arrive: each event is shape-checked and authenticated, held as
 * evidence in `verify.sqlite`, judged against the evidence held (`judge.ts`), and either applied
 * (ledger keyed by event id), kept waiting for missing evidence, or refused for good. A new
 * record or event re-judges everything still waiting on the same experiment.
 * @module
 */
import {
  checkControl,
  checkControlAuth,
  CONTROL_TYPES,
  isOnFrontier,
  isTrustedControl,
  normalizeGpuClass,
} from "../protocol/mod.ts";
import type {
  ChallengePayload,
  ChallengeResponsePayload,
  ControlEvent,
  ControlType,
  ExperimentRecord,
} from "../protocol/types.ts";
import type { ControlLog, GraphStore, ReputationStore } from "../store/mod.ts";
import type { EvidenceRow, EvidenceState, VerifyDb } from "./db.ts";
import { type Held, judgeEvent, type Verdict } from "./judge.ts";
import { canPlaceVerifier } from "./policy.ts";

/** Largest control payload accepted, as JSON text (real events are a few hundred bytes). */
export const MAX_EVENT_BYTES = 16 * 1024;

/** What handling one incoming event did. */
export type HandleResult =
  | { status: "ignored"; reason: string }
  | { status: "duplicate"; state: EvidenceState }
  | { status: "held"; state: EvidenceState; reason: string; applied: ControlEvent[] };

/** Stores and switches the applier works with. */
export interface ApplierOptions {
  db: VerifyDb;
  reputation: ReputationStore;
  graph: GraphStore;
  /** Accepted events are logged here so sync can pass them on; optional for tests. */
  control?: ControlLog | undefined;
  /** Legacy network switch: apply unsigned events too (wrongly signed ones never). */
  acceptUnsigned?: boolean | undefined;
  /** This node's id: it always places itself as a verifier (it ran the rerun on its hardware). */
  selfId?: string;
  /** Diagnostics sink. */
  log?: (message: string) => void;
}

/** Judge order within one experiment: dependencies first. */
const TYPE_ORDER: Record<ControlType, number> = {
  challenge: 0,
  verification: 1,
  challenge_response: 2,
  dispute: 3,
};

const CONTROL_CURSOR = "control_log_seq";
const GRAPH_CURSOR = "graph_seq";
const PAGE = 500;
/** Newest records of a verifier looked at to place it (a node rarely changes GPU class). */
const PLACE_SCAN = 50;

/** Event application for one node; see the module doc. */
export class EventApplier {
  readonly #o: ApplierOptions;

  constructor(options: ApplierOptions) {
    this.#o = options;
  }

  /**
   * Take one untrusted event (from a peer, sync or this node). Malformed, oversized, unsigned
   * (unless the legacy switch is on) or wrongly signed events are ignored and change nothing;
   * the caller relays them regardless. Returns what happened and every event applied as a
   * consequence (this one and any that were waiting on it).
   */
  async handle(
    raw: { type: unknown; payload: unknown },
    opts: { logToControl?: boolean } = {},
  ): Promise<HandleResult> {
    if (typeof raw !== "object" || raw === null) return ignored("not an event");
    const type = raw.type as ControlType;
    if (!CONTROL_TYPES.includes(type)) return ignored("unknown control type");
    const shape = checkControl(type, raw.payload);
    if (!shape.ok) return ignored(shape.reason);
    const event = shape.value;
    const held = this.#o.db.get(type, event.payload.event_id);
    if (held) return { status: "duplicate", state: held.state };
    if (jsonSize(event.payload) > MAX_EVENT_BYTES) return ignored("payload too large");
    const auth = await checkControlAuth(event);
    if (!isTrustedControl(auth, this.#o.acceptUnsigned === true)) {
      return ignored(`authentication: ${auth}`);
    }
    // Re-checked after the await: another call may have held the same event meanwhile.
    if (!this.#o.db.hold(event)) {
      return { status: "duplicate", state: this.#o.db.get(type, event.payload.event_id)!.state };
    }
    if (opts.logToControl !== false) this.logToControl(event);
    const applied = this.evaluate(event.payload.experiment_id);
    const now = this.#o.db.get(type, event.payload.event_id)!;
    return { status: "held", state: now.state, reason: now.reason, applied };
  }

  /**
   * A record was stored: note its publisher's GPU class and apply whatever was waiting on it.
   * Returns the events applied now.
   */
  onRecord(record: ExperimentRecord): ControlEvent[] {
    this.#o.db.noteNodeClass(record.node_id, normalizeGpuClass(record.gpu_model));
    return this.evaluate(record.id);
  }

  /** Re-judge every waiting event about one experiment; returns those applied now. */
  evaluate(experimentId: string): ControlEvent[] {
    const db = this.#o.db;
    // Most records have no event waiting for them: skip the record read.
    if (db.byExperiment(experimentId, "pending").length === 0) return [];
    const record = this.#o.graph.get(experimentId);
    const applied: ControlEvent[] = [];
    // Each pass settles at least one event or stops, so this ends.
    for (;;) {
      const waiting = db.byExperiment(experimentId, "pending")
        .sort((a, b) => TYPE_ORDER[a.event.type] - TYPE_ORDER[b.event.type]);
      let progress = false;
      for (const row of waiting) {
        const verdict = this.#judge(row.event, record);
        if (verdict.state === "pending") {
          if (verdict.reason !== row.reason) {
            db.setState(row.event.type, row.event.payload.event_id, "pending", verdict.reason);
          }
          continue;
        }
        progress = true;
        if (verdict.state === "invalid") {
          db.setState(row.event.type, row.event.payload.event_id, "invalid", verdict.reason);
          this.#o.log?.(`refused ${row.event.payload.event_id.slice(0, 80)}: ${verdict.reason}`);
        } else {
          this.#commit(row.event, verdict);
          applied.push(row.event);
        }
      }
      if (!progress) return applied;
    }
  }

  /**
   * Feed every control-log entry added since the last replay through {@link handle} (events a
   * sync wrote straight to the log, or everything after `verify.sqlite` was lost). Returns the
   * events applied.
   */
  async replayControlLog(): Promise<ControlEvent[]> {
    const control = this.#o.control;
    if (!control) return [];
    const applied: ControlEvent[] = [];
    let cursor = Number(this.#o.db.getMeta(CONTROL_CURSOR) ?? 0);
    for (;;) {
      const page = control.afterSeq(cursor, PAGE);
      if (page.length === 0) return applied;
      for (const entry of page) {
        const r = await this.handle({ type: entry.type, payload: entry.payload });
        if (r.status === "held") applied.push(...r.applied);
        cursor = entry.seq;
      }
      this.#o.db.setMeta(CONTROL_CURSOR, String(cursor));
    }
  }

  /** Bring the node-class index up to date with records stored since the last call. */
  syncClassIndex(): void {
    const db = this.#o.db;
    let cursor = Number(db.getMeta(GRAPH_CURSOR) ?? 0);
    for (;;) {
      const page = this.#o.graph.afterSeq(cursor, PAGE);
      if (page.length === 0) return;
      db.transaction(() => {
        for (const { seq, record } of page) {
          db.noteNodeClass(record.node_id, normalizeGpuClass(record.gpu_model));
          cursor = seq;
        }
        db.setMeta(GRAPH_CURSOR, String(cursor));
      });
    }
  }

  /** The held copy of an event and its state. */
  held(type: ControlType, eventId: string): EvidenceRow | undefined {
    return this.#o.db.get(type, eventId);
  }

  /** Applied responses to `challengerId`'s challenge of an experiment, oldest first. */
  appliedResponses(experimentId: string, challengerId: string): ChallengeResponsePayload[] {
    return this.#o.db.byExperiment(experimentId, "applied")
      .filter((r) =>
        r.event.type === "challenge_response" && r.event.payload.challenger_id === challengerId
      )
      .map((r) => r.event.payload as ChallengeResponsePayload);
  }

  /** Applied challenges of an experiment, oldest first. */
  appliedChallenges(experimentId: string): ChallengePayload[] {
    return this.#o.db.byExperiment(experimentId, "applied")
      .filter((r) => r.event.type === "challenge")
      .map((r) => r.event.payload as ChallengePayload);
  }

  #judge(event: ControlEvent, record: ExperimentRecord | undefined): Verdict {
    return judgeEvent(event, record, {
      held: <T>(type: ControlType, eventId: string) => this.#heldPayload<T>(type, eventId),
      appliedResponses: (experimentId: string, challengerId: string) =>
        this.appliedResponses(experimentId, challengerId),
      credit: {
        onFrontier: (r) => this.#onFrontier(r),
        verifierPlaced: (verifierId, r) => this.#placed(verifierId, r),
      },
    });
  }

  /** On this node's own frontier now (PROTOCOL.md section 7), whatever an event claims. */
  #onFrontier(record: ExperimentRecord): boolean {
    return isOnFrontier(record, this.#o.graph.children(record.id));
  }

  /** A verifier this node can place (`canPlaceVerifier`): from its newest stored records. */
  #placed(verifierId: string, record: ExperimentRecord): boolean {
    if (verifierId === this.#o.selfId) return true;
    const theirs = this.#o.graph.byNode(verifierId, PLACE_SCAN);
    return canPlaceVerifier(theirs, normalizeGpuClass(record.gpu_model));
  }

  #heldPayload<T>(type: ControlType, eventId: string): Held<T> {
    const row = this.#o.db.get(type, eventId);
    if (!row) return { state: "missing" };
    if (row.state === "applied") return { state: "applied", payload: row.event.payload as T };
    return { state: row.state };
  }

  #commit(event: ControlEvent, verdict: Extract<Verdict, { state: "apply" }>): void {
    const { db, reputation, graph } = this.#o;
    // The ledger is keyed by id, so a crash between these writes is repaired by re-judging:
    // entries already written are skipped, the evidence row is still pending.
    for (const entry of verdict.ledger) reputation.applyEvent(entry.key, entry.kind, entry.deltas);
    if (verdict.markVerified) graph.markVerified(event.payload.experiment_id);
    const actor = actorClass(event);
    if (actor) db.noteNodeClass(actor.nodeId, actor.gpuClass);
    db.setState(event.type, event.payload.event_id, "applied");
  }

  /** Append an accepted event to the control log (a no-op when it is there already). */
  logToControl(event: ControlEvent): void {
    try {
      this.#o.control?.append(event.type, event.payload);
    } catch (err) {
      this.#o.log?.(
        `control log refused ${event.type}: ${err instanceof Error ? err.message : err}`,
      );
    }
  }
}

/** The acting node of an accepted event and the GPU class its rerun shows. */
function actorClass(event: ControlEvent): { nodeId: string; gpuClass: string } | undefined {
  switch (event.type) {
    case "challenge":
      return {
        nodeId: event.payload.challenger_id,
        gpuClass: normalizeGpuClass(event.payload.challenger_gpu),
      };
    case "challenge_response":
    case "verification":
      return {
        nodeId: event.payload.verifier_id,
        gpuClass: normalizeGpuClass(event.payload.verifier_gpu),
      };
    case "dispute":
      return undefined;
  }
}

function ignored(reason: string): HandleResult {
  return { status: "ignored", reason };
}

function jsonSize(payload: unknown): number {
  try {
    return JSON.stringify(payload).length;
  } catch {
    return Infinity;
  }
}
