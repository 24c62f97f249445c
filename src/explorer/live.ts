/**
 * Live events for `/ws`: node events become small JSON messages sent to every connected page.
 * The hub subscribes to the node only while at least one client is connected, and drops
 * messages for a client that stops reading rather than buffering without bound.
 * @module
 */
import type { NodeEvent, NodeHandle } from "../node_types.ts";
import { checkControlAuth, type ControlEvent, isTrustedControl } from "../protocol/mod.ts";
import type { ProfileStore, Stores } from "../store/mod.ts";
import { experimentVerification } from "../verify/mod.ts";
import { listed } from "./present.ts";
import type { LiveRun } from "../research/live_run.ts";
import { safetyCatch } from "../errors.ts";

/** Most pages connected at once; more are refused so a loop of reconnects cannot exhaust us. */
export const MAX_WS_CLIENTS = 256;
/** A client with more than this many bytes unsent gets no more messages until it catches up. */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** What the hub needs of a socket: Hono's `WSContext` and Deno's `WebSocket` both fit. */
export interface LiveSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** Bytes queued but not yet sent, when the transport tells. */
  readonly bufferedAmount?: number;
}

/** One message on `/ws`: `{type, data}`. */
export interface LiveMessage {
  type:
    | "experiment"
    | "profile"
    | "challenge"
    | "challenge_response"
    | "verification"
    | "dispute"
    | "peer"
    | "run";
  data: unknown;
}

/**
 * Least time between two `run` messages of the same phase. A GPU run can print a progress line
 * per step (tens a second); four updates a second keep the card live without flooding pages.
 */
export const RUN_MESSAGE_INTERVAL_MS = 250;

/**
 * How this node judges a control event right now: `applied`, `pending` (evidence missing) or
 * `refused` (unsigned, forged, or contradicting the signed evidence). The live feed shows it so
 * a relayed lie is never presented as an outcome.
 */
export async function judgeLive(
  event: ControlEvent,
  stores: Pick<Stores, "graph" | "control">,
): Promise<string> {
  // The log holds only authenticated events; a live one is checked here first. The live view
  // has no legacy switch: it shows unsigned events as refused even where the node accepts them.
  if (!isTrustedControl(await checkControlAuth(event), false)) return "refused";
  const record = stores.graph.get(event.payload.experiment_id);
  if (!record) return "pending";
  const logged = stores.control.byExperiment(record.id)
    .filter((e) => !(e.type === event.type && e.payload.event_id === event.payload.event_id));
  const view = experimentVerification(record, [...logged, event]);
  return view.event_state.at(-1) ?? "refused";
}

/**
 * Turn a node event into its `/ws` message (records carry the publisher's display name; control
 * events, given the stores, carry this node's judgement as `state`).
 */
export async function toLiveMessage(
  event: NodeEvent,
  profiles: ProfileStore,
  stores?: Pick<Stores, "graph" | "control">,
): Promise<LiveMessage> {
  switch (event.kind) {
    case "experiment":
      return {
        type: "experiment",
        data: { ...listed([event.record], profiles)[0], source: event.source },
      };
    case "profile":
      return { type: "profile", data: event.profile };
    case "control":
      return {
        type: event.event.type,
        data: {
          ...event.event.payload,
          ...(stores ? { state: await judgeLive(event.event, stores) } : {}),
        },
      };
    case "peer":
      return {
        type: "peer",
        data: { state: event.state, address: event.address, node_id: event.nodeId ?? null },
      };
  }
}

/** Fans node events out to connected pages. */
export class LiveHub {
  readonly #node: NodeHandle;
  readonly #clients = new Set<LiveSocket>();
  #unsubscribe: (() => void) | undefined;
  #unsubscribeRuns: (() => void) | undefined;
  #runSentAt = 0;
  #runPhase = "";
  #runTimer: ReturnType<typeof setTimeout> | undefined;
  #runPending: LiveRun | undefined;
  #closed = false;

  constructor(node: NodeHandle) {
    this.#node = node;
  }

  /** Number of connected pages (`ws_client` in `/api/stat`). */
  get size(): number {
    return this.#clients.size;
  }

  /** True when another client may join. */
  canAccept(): boolean {
    return !this.#closed && this.#clients.size < MAX_WS_CLIENTS;
  }

  /** Register a connected socket; returns false (and closes it) when the hub is full or closed. */
  add(socket: LiveSocket): boolean {
    if (!this.canAccept()) {
      socket.close(1013, "too many live clients");
      return false;
    }
    this.#clients.add(socket);
    this.#unsubscribe ??= this.#node.events.on((event) => void this.#broadcast(event));
    this.#unsubscribeRuns ??= this.#node.runs?.on((run) => this.#onRun(run));
    return true;
  }

  /** Forget a socket (it closed). */
  remove(socket: LiveSocket): void {
    this.#clients.delete(socket);
    if (this.#clients.size === 0) this.#stopListening();
  }

  /** Close every socket and stop listening; later clients are refused. */
  close(): void {
    this.#closed = true;
    for (const socket of this.#clients) {
      try {
        socket.close(1001, "explorer shutting down");
      } catch (e) {
        safetyCatch(e); // already closed
      }
    }
    this.#clients.clear();
    this.#stopListening();
  }

  #stopListening(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#unsubscribeRuns?.();
    this.#unsubscribeRuns = undefined;
    clearTimeout(this.#runTimer);
    this.#runTimer = undefined;
    this.#runPending = undefined;
  }

  /** Phase changes go out at once; progress within a phase at most every 250 ms (latest wins). */
  #onRun(run: LiveRun): void {
    const key = `${run.run}:${run.phase}`;
    const now = Date.now();
    if (key !== this.#runPhase || now - this.#runSentAt >= RUN_MESSAGE_INTERVAL_MS) {
      clearTimeout(this.#runTimer);
      this.#runTimer = undefined;
      this.#runPending = undefined;
      this.#runPhase = key;
      this.#runSentAt = now;
      this.#send(JSON.stringify({ type: "run", data: run }));
      return;
    }
    this.#runPending = run;
    this.#runTimer ??= setTimeout(() => {
      this.#runTimer = undefined;
      const pending = this.#runPending;
      this.#runPending = undefined;
      if (pending) this.#onRun(pending);
    }, RUN_MESSAGE_INTERVAL_MS - (now - this.#runSentAt));
  }

  async #broadcast(event: NodeEvent): Promise<void> {
    // A dial that never connected is not a peer the page saw come or go.
    if (event.kind === "peer" && event.dialError) return;
    let text: string;
    try {
      text = JSON.stringify(
        await toLiveMessage(event, this.#node.stores.profiles, this.#node.stores),
      );
    } catch (err) {
      // A store error must not propagate into the node's event emitter.
      console.error(`explorer: cannot forward a ${event.kind} event: ${String(err)}`);
      return;
    }
    this.#send(text);
  }

  #send(text: string): void {
    for (const socket of this.#clients) {
      if ((socket.bufferedAmount ?? 0) > MAX_BUFFERED_BYTES) continue;
      try {
        socket.send(text);
      } catch {
        this.#clients.delete(socket);
      }
    }
  }
}
