/**
 * The addresses this node may dial and when: configured peers, bootstrap peers (only when none is
 * configured), and peers discovered through PEX or `known_peer`. Failed or lost peers are retried
 * with exponential backoff and jitter; nothing here is ever fatal. Pure state: the network does
 * the dialing.
 * @module
 */
import { formatAddress, parseAddress } from "../protocol/mod.ts";
import { backoffDelay, type BackoffPolicy } from "./backoff.ts";
import { addressGroup } from "./slots.ts";

/** Address group (see {@link addressGroup}) of a normalized `host:port`. */
function groupOf(address: string): string {
  const r = parseAddress(address);
  return r.ok ? addressGroup(r.value.host) : address;
}

/** Where an address came from. */
export type AddressSource = "configured" | "bootstrap" | "discovered";

interface Entry {
  address: string;
  source: AddressSource;
  failures: number;
  nextAttemptAt: number;
  dialing: boolean;
  connected: boolean;
  /** node_id learned from `hello` when we dialed this address. */
  nodeId?: string;
  /** The address turned out to be ourselves: never dialed again. */
  self: boolean;
}

/** Most discovered addresses kept; PEX input is untrusted and must not grow memory. */
const MAX_DISCOVERED = 1000;

/** Options of {@link PeerBook}. */
export interface PeerBookOptions {
  configured: string[];
  bootstrap: string[];
  known: string[];
  backoff: BackoffPolicy;
  /** Discovered peers are dialed only while fewer outbound connections than this are up. */
  targetOutbound: number;
  random?: () => number;
}

/** Normalize an address to `host:port`, or undefined when invalid. */
export function normalizeAddress(text: string): string | undefined {
  const r = parseAddress(text);
  return r.ok ? formatAddress(r.value) : undefined;
}

/** Dial bookkeeping for every address we know. */
export class PeerBook {
  readonly #entries = new Map<string, Entry>();
  readonly #opts: PeerBookOptions;
  readonly #random: () => number;
  /** Discovered addresses changed since {@link PeerBook.takeDiscoveredChanged} last said so. */
  #discoveredChanged = false;

  constructor(opts: PeerBookOptions) {
    this.#opts = opts;
    this.#random = opts.random ?? Math.random;
    for (const a of opts.configured) this.add(a, "configured");
    if (opts.configured.length === 0) { for (const a of opts.bootstrap) this.add(a, "bootstrap"); }
    for (const a of opts.known) this.add(a, "discovered");
    this.#discoveredChanged = false; // what was loaded needs no saving
  }

  /** True once after a new address was discovered: time to save `known_peer`. */
  takeDiscoveredChanged(): boolean {
    const changed = this.#discoveredChanged;
    this.#discoveredChanged = false;
    return changed;
  }

  /** Add an address; returns true when it was new. Invalid addresses are ignored. */
  add(text: string, source: AddressSource): boolean {
    const address = normalizeAddress(text);
    if (!address || this.#entries.has(address)) return false;
    if (source === "discovered") {
      if (this.#countDiscovered() >= MAX_DISCOVERED) return false;
      this.#discoveredChanged = true;
    }
    this.#entries.set(address, {
      address,
      source,
      failures: 0,
      nextAttemptAt: 0,
      dialing: false,
      connected: false,
      self: false,
    });
    return true;
  }

  /** True when the address is known. */
  has(text: string): boolean {
    const a = normalizeAddress(text);
    return a !== undefined && this.#entries.has(a);
  }

  /**
   * Addresses to dial at `now`: due, not connected or dialing, not ourselves, not an alias of a
   * node already connected. Discovered ones only up to the outbound target (dials in flight
   * count), from the address groups with the fewest of our connections first.
   */
  due(now: number, outbound: number, connectedNodes: ReadonlySet<string>): string[] {
    const out: string[] = [];
    const candidates: Entry[] = [];
    // Outbound connections in each address group, dials in flight included.
    const groups = new Map<string, number>();
    let budget = this.#opts.targetOutbound - outbound;
    for (const e of this.#entries.values()) {
      if (e.connected || e.dialing) {
        const g = groupOf(e.address);
        groups.set(g, (groups.get(g) ?? 0) + 1);
        // A discovered dial in flight takes its slot now: PEX fills up to the target, not past.
        if (e.dialing && e.source === "discovered") budget--;
        continue;
      }
      if (e.self || e.nextAttemptAt > now) continue;
      if (e.nodeId && connectedNodes.has(e.nodeId)) continue;
      if (e.source === "discovered") candidates.push(e);
      else out.push(e.address);
    }
    // Discovered peers: fill the slots left from the groups we have fewest connections in, so
    // one party's many addresses (a PEX flood from one subnet) do not take every slot.
    while (budget-- > 0 && candidates.length > 0) {
      let best = 0;
      let bestCount = Infinity;
      candidates.forEach((e, i) => {
        const n = groups.get(groupOf(e.address)) ?? 0;
        if (n < bestCount) [best, bestCount] = [i, n];
      });
      const [pick] = candidates.splice(best, 1);
      const g = groupOf(pick!.address);
      groups.set(g, (groups.get(g) ?? 0) + 1);
      out.push(pick!.address);
    }
    return out;
  }

  /** A dial to `address` started. */
  dialing(address: string): void {
    const e = this.#entries.get(address);
    if (e) e.dialing = true;
  }

  /** A dial failed: retry later with backoff. */
  failed(address: string, now: number): void {
    this.#backOff(address, now);
  }

  /** A dial succeeded. */
  connected(address: string): void {
    const e = this.#entries.get(address);
    if (!e) return;
    e.dialing = false;
    e.connected = true;
  }

  /** The peer at `address` said hello: the connection is good, the backoff resets. */
  identified(address: string, nodeId: string): void {
    const e = this.#entries.get(address);
    if (!e) return;
    e.nodeId = nodeId;
    e.failures = 0;
  }

  /** The address is this node itself. */
  markSelf(address: string): void {
    const e = this.#entries.get(address);
    if (e) {
      e.self = true;
      e.dialing = false;
      e.connected = false;
    }
  }

  /** An outbound connection to `address` ended: redial after a backoff delay. */
  disconnected(address: string, now: number): void {
    this.#backOff(address, now);
  }

  /** Not connected: count one more failure and wait its backoff delay before the next dial. */
  #backOff(address: string, now: number): void {
    const e = this.#entries.get(address);
    if (!e) return;
    e.dialing = false;
    e.connected = false;
    e.failures++;
    e.nextAttemptAt = now + backoffDelay(e.failures, this.#opts.backoff, this.#random);
  }

  /** Addresses learned from PEX or `known_peer` (for saving to `known_peer`). */
  discovered(): string[] {
    return [...this.#entries.values()]
      .filter((e) => e.source === "discovered" && !e.self)
      .map((e) => e.address);
  }

  /** Every address with its source (for status displays). */
  list(): { address: string; source: AddressSource; connected: boolean; failures: number }[] {
    return [...this.#entries.values()].map((e) => ({
      address: e.address,
      source: e.source,
      connected: e.connected,
      failures: e.failures,
    }));
  }

  #countDiscovered(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.source === "discovered") n++;
    return n;
  }
}
