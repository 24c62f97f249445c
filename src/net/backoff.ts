/**
 * Reconnect delays: exponential backoff with full jitter, so many nodes that lost the same peer
 * do not all redial it at the same instant.
 * @module
 */

/** Backoff settings in milliseconds. */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before attempt number `failures` (1 = first retry): a random value in
 * [d/2, d] where d = min(max, base * 2^(failures-1)). `random` returns [0, 1).
 */
export function backoffDelay(
  failures: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exp = Math.min(30, Math.max(0, failures - 1));
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** exp);
  // Half fixed, half random: never retries in a tight loop, still spreads the herd.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
