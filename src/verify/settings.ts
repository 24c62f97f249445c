/**
 * Verification settings from config and environment: spot-check base rate, challenge timeout
 * and the legacy switch for unsigned control events.
 * @module
 */
import { challengeTimeoutMs, spotCheckRate } from "./policy.ts";

/** The settings a {@link Verifier} takes from config and env. */
export interface VerifierSettings {
  spotCheckRate: number;
  challengeTimeoutMs: number;
  acceptUnsigned: boolean;
}

/** The config keys read here (a `SporeConfig` fits). */
export interface VerifierConfig {
  spot_check_rate?: number;
  /** Legacy network switch (config.toml `accept_unsigned_control`). */
  accept_unsigned_control?: boolean;
}

/**
 * Read `SPORE_SPOT_CHECK_RATE` (over config `spot_check_rate`, default 0.05),
 * `SPORE_CHALLENGE_TIMEOUT` (seconds, default 1800) and `SPORE_ACCEPT_UNSIGNED_CONTROL`
 * (`1`/`true`/`yes`, over config `accept_unsigned_control`, default off).
 * @throws RangeError naming the variable or key when a value is malformed.
 */
export function verifierSettings(
  config: VerifierConfig,
  env: (name: string) => string | undefined,
): VerifierSettings {
  return {
    spotCheckRate: spotCheckRate(config.spot_check_rate, env("SPORE_SPOT_CHECK_RATE")),
    challengeTimeoutMs: challengeTimeoutMs(env("SPORE_CHALLENGE_TIMEOUT")),
    acceptUnsigned: flag(env("SPORE_ACCEPT_UNSIGNED_CONTROL")) ??
      config.accept_unsigned_control === true,
  };
}

function flag(v: string | undefined): boolean | undefined {
  if (v === undefined || v.trim() === "") return undefined;
  const s = v.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["0", "false", "no", "off"].includes(s)) return false;
  throw new RangeError(`SPORE_ACCEPT_UNSIGNED_CONTROL must be 1/true/yes or 0/false/no, got ${v}`);
}
