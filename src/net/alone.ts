/**
 * Never silently alone: what the node knows about its links (connected peers, addresses being
 * dialed, the last dial error per address), shared by the `no peers connected` warning,
 * `<data>/peers.json` and `spore status`; and when to repeat that warning.
 * @module
 */
import type { DialFailure } from "./transport.ts";

/** The network part of `spore status --json` (and of `<data>/peers.json`). */
export interface NetworkStatus {
  connected: number;
  /** Addresses the node is trying to reach (not connected), at most {@link MAX_LISTED}. */
  dialing: string[];
  /** Per address whose latest dial failed: why, and when (ISO time). */
  last_errors: { address: string; error: string; at: string }[];
}

/** Addresses and errors listed at most: enough to see the pattern, bounded for PEX-fed books. */
export const MAX_LISTED = 16;

/** What {@link networkStatus} reads from a running network. */
export interface NetworkView {
  peers(): unknown[];
  addresses(): { address: string; connected: boolean; source: string }[];
  dialFailures(): DialFailure[];
}

/** The network's links as {@link NetworkStatus}; configured and bootstrap addresses first. */
export function networkStatus(net: NetworkView): NetworkStatus {
  const rank = (source: string) => source === "configured" ? 0 : source === "bootstrap" ? 1 : 2;
  const dialing = net.addresses()
    .filter((a) => !a.connected)
    .sort((a, b) => rank(a.source) - rank(b.source))
    .slice(0, MAX_LISTED)
    .map((a) => a.address);
  const failures = net.dialFailures();
  return {
    connected: net.peers().length,
    dialing,
    // Newest last in the dialer's list: keep the most recent ones.
    last_errors: failures.slice(-MAX_LISTED).map((f) => ({
      address: f.address,
      error: f.error,
      at: new Date(f.at).toISOString(),
    })),
  };
}

/** The `no peers connected` warning: its lines, with the errors and what to do. */
export function aloneLines(s: NetworkStatus, aloneForMs: number): string[] {
  const lines = [`no peers connected (for ${Math.round(aloneForMs / 1000)} s)`];
  const failed = new Set(s.last_errors.map((e) => e.address));
  for (const e of s.last_errors) lines.push(`  ${e.address}: ${e.error}`);
  for (const a of s.dialing) if (!failed.has(a)) lines.push(`  ${a}: dialing, no answer yet`);
  if (s.dialing.length === 0 && s.last_errors.length === 0) {
    lines.push("  no peer address to dial");
  }
  lines.push(
    "  to join: spore connect HOST:PORT (then restart), or spore run --peer HOST:PORT " +
      "with the address of a running node",
  );
  return lines;
}

/** Default wait before the first warning: dials that work connect within seconds. */
export const ALONE_FIRST_MS = 30_000;
/** Repeats back off from the first wait, doubling, up to this. */
export const ALONE_MAX_INTERVAL_MS = 15 * 60_000;

/** When to warn: after `firstMs` alone, then at doubling intervals while still alone. */
export class AloneWatch {
  readonly #firstMs: number;
  #since: number | undefined;
  #nextAt = 0;
  #interval: number;

  constructor(firstMs = ALONE_FIRST_MS) {
    this.#firstMs = firstMs;
    this.#interval = firstMs;
  }

  /**
   * Note the peer count at `now`; returns how long the node has been alone when a warning is
   * due, else undefined.
   */
  check(now: number, connected: number): number | undefined {
    if (connected > 0) {
      this.#since = undefined;
      this.#interval = this.#firstMs;
      return undefined;
    }
    if (this.#since === undefined) {
      this.#since = now;
      this.#nextAt = now + this.#firstMs;
    }
    if (now < this.#nextAt) return undefined;
    this.#interval = Math.min(ALONE_MAX_INTERVAL_MS, this.#interval * 2);
    this.#nextAt = now + this.#interval;
    return now - this.#since;
  }
}
