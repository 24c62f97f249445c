/**
 * Control events on the wire (PROTOCOL.md section 8): deduplicate, log, hand to the local
 * handler (verification) and relay to every other ready peer. Only authenticated events (signed
 * by the acting node, or unsigned on a legacy network) enter the control log: the log keeps the
 * first copy of an event id, so a forged copy logged first would block the genuine event
 * forever.
 *
 * Unauthenticated events (unsigned, as every Python node's own are, or wrongly signed) are never
 * logged or applied, but they are the Python network's whole control plane: a Python node
 * re-sends every event it has not seen, signed or not (PROTOCOL.md section 11), so not relaying
 * them would cut the Python nodes behind this one off from the network's challenges and
 * disputes. They go to peers without `hello` (Python peers) only, once per type + event id as
 * the Python node deduplicates, size-bounded and rate-limited. Our own peers never apply them.
 * @module
 */
import {
  canonicalJson,
  checkControlAuth,
  CONTROL_FLOAT_KEYS,
  CONTROL_TYPES,
  type ControlEvent,
  type ControlType,
  envelopeRaw,
  isTrustedControl,
  MAX_CONTROL_BYTES,
  sha256Hex,
} from "../protocol/mod.ts";
import type { ControlLog } from "../store/mod.ts";
import type { ControlHandler, PeerInfo } from "../node_types.ts";
import { LruSet } from "./lru.ts";

/** A handler that ignores control events (sync-only nodes). */
export const NOOP_CONTROL_HANDLER: ControlHandler = { onControl: () => Promise.resolve() };

/**
 * Unauthenticated events remembered for relay deduplication (by type + event id). A flood of
 * distinct forged events only evicts older entries: each is relayed at most once while remembered.
 */
const UNTRUSTED_SEEN = 4096;

/**
 * Unauthenticated events relayed per second, with bursts up to {@link UNTRUSTED_BURST}. The live
 * network's control traffic is a few events per finished challenge (minutes apart); a faster
 * stream is a flood, and the excess is dropped rather than amplified to every Python peer.
 */
export const UNTRUSTED_PER_SECOND = 10;
/** See {@link UNTRUSTED_PER_SECOND}. */
export const UNTRUSTED_BURST = 100;

/** What the relay needs from a connection. */
export interface RelayTarget {
  send(json: string): boolean;
}

/** Options of a {@link ControlRelay}. */
export interface ControlRelayOptions<P extends RelayTarget> {
  log: ControlLog;
  /** Legacy network switch: log unsigned events too (never badly signed ones). */
  acceptUnsigned: boolean;
  handler?: ControlHandler | undefined;
  /** Peers that get relayed events (the sender is skipped). */
  targets(): P[];
  /** True for a peer that sent no `hello` (a Python peer): it gets unauthenticated events too. */
  isLegacy(p: P): boolean;
  /** Clock (ms), for the rate limit. */
  now?: () => number;
  /** How a sending peer is described to the handler. */
  describe(p: P): PeerInfo;
  /** Called for every accepted event (node events, live views). */
  onAccepted(event: ControlEvent): void;
  /** The handler failed on an event (it runs untracked): log it, rethrow a programmer error. */
  onHandlerFailed(error: unknown): void;
}

/** Accepts, logs and relays control events. */
export class ControlRelay<P extends RelayTarget> {
  readonly #o: ControlRelayOptions<P>;
  readonly #untrustedSeen = new LruSet(UNTRUSTED_SEEN);
  #tokens = UNTRUSTED_BURST;
  #refilledAt = 0;
  /** Unauthenticated events dropped by the rate limit or the size bound (for tests, metrics). */
  untrustedDropped = 0;

  constructor(o: ControlRelayOptions<P>) {
    this.#o = o;
  }

  /** An event received from peer `from`: accepted and handed to the handler. */
  async receive(event: ControlEvent, from: P): Promise<void> {
    await this.accept(event, from, true);
  }

  /**
   * Dedupe, log, hand on (when `notify`) and relay `event` from `from` (null: created here).
   * False when it was dropped or already seen.
   */
  async accept(event: ControlEvent, from: P | null, notify: boolean): Promise<boolean> {
    if (!CONTROL_TYPES.includes(event.type as ControlType)) return false;
    let json: string;
    try {
      json = envelopeRaw(event.type, canonicalJson(event.payload, CONTROL_FLOAT_KEYS));
    } catch {
      return false; // NaN or other values that cannot be re-encoded faithfully
    }
    const trusted = isTrustedControl(await checkControlAuth(event), this.#o.acceptUnsigned);
    if (trusted) {
      let seq: number | null;
      try {
        seq = this.#o.log.append(event.type, event.payload);
      } catch {
        return false; // oversized or unstorable: neither applied nor relayed
      }
      if (seq === null) return false;
    } else {
      const key = sha256Hex(`${event.type}\n${String(event.payload.event_id)}`);
      if (this.#untrustedSeen.has(key)) return false;
      this.#untrustedSeen.add(key);
      if (json.length > MAX_CONTROL_BYTES || !this.#takeToken()) {
        this.untrustedDropped++;
        return false;
      }
    }
    if (notify) {
      const handler = this.#o.handler ?? NOOP_CONTROL_HANDLER;
      // Not tracked for shutdown: a handler may run long (a verification rerun) and a trusted
      // event is already logged, so nothing is lost by not waiting for it.
      handler.onControl(event, from ? this.#o.describe(from) : null)
        .catch((e) => this.#o.onHandlerFailed(e));
    }
    this.#o.onAccepted(event);
    for (const t of this.#o.targets()) {
      if (t !== from && (trusted || this.#o.isLegacy(t))) t.send(json);
    }
    return true;
  }

  #takeToken(): boolean {
    const now = (this.#o.now ?? Date.now)();
    const refill = ((now - this.#refilledAt) / 1000) * UNTRUSTED_PER_SECOND;
    this.#tokens = Math.min(UNTRUSTED_BURST, this.#tokens + refill);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
