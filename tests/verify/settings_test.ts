import assert from "node:assert/strict";
import { verifierSettings } from "../../src/verify/mod.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("verifier settings default to the network's values", () => {
  assert.deepEqual(verifierSettings({}, env({})), {
    spotCheckRate: 0.05,
    challengeTimeoutMs: 1_800_000,
    acceptUnsigned: false,
  });
});

Deno.test("env overrides config; malformed values name their source", () => {
  const cfg = { spot_check_rate: 0.2, accept_unsigned_control: true };
  assert.deepEqual(verifierSettings(cfg, env({})), {
    spotCheckRate: 0.2,
    challengeTimeoutMs: 1_800_000,
    acceptUnsigned: true,
  });
  assert.deepEqual(
    verifierSettings(
      cfg,
      env({
        SPORE_SPOT_CHECK_RATE: "1",
        SPORE_CHALLENGE_TIMEOUT: "30",
        SPORE_ACCEPT_UNSIGNED_CONTROL: "no",
      }),
    ),
    { spotCheckRate: 1, challengeTimeoutMs: 30_000, acceptUnsigned: false },
  );
  assert.throws(() => verifierSettings({}, env({ SPORE_SPOT_CHECK_RATE: "2" })), /SPORE_SPOT/);
  assert.throws(() => verifierSettings({}, env({ SPORE_CHALLENGE_TIMEOUT: "-1" })), /TIMEOUT/);
  assert.throws(
    () => verifierSettings({}, env({ SPORE_ACCEPT_UNSIGNED_CONTROL: "maybe" })),
    /SPORE_ACCEPT_UNSIGNED_CONTROL/,
  );
});
