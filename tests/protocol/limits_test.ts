import assert from "node:assert/strict";
import {
  countJsonTokens,
  envelope,
  envelopeRaw,
  type ExperimentPayload,
  hexToBytes,
  MAX_CONTROL_BYTES,
  MAX_CONTROL_KEYS,
  MAX_JSON_TOKENS,
  MAX_RECORD_BYTES,
  parseMessage,
  RECORD_TEXT_LIMITS,
  recordJson,
  signRecord,
  validateRecord,
} from "../../src/protocol/mod.ts";
import { checkRecord } from "../../src/net/record_check.ts";
import { reasonOf, vectors } from "./vectors.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const seed = hexToBytes(vectors.keys[0]!.seed_hex);

function payloadWith(fields: Partial<ExperimentPayload>): ExperimentPayload {
  const { id: _id, signature: _sig, ...base } = vectors.records[1]!.wire;
  return { ...base, node_id: vectors.keys[0]!.node_id, ...fields };
}

Deno.test("limits: every vector record and the workspace's full-rewrite diff fit", async () => {
  for (const v of vectors.records) {
    assert.ok(v.canonical.length < MAX_RECORD_BYTES / 100, `${v.cid}: ${v.canonical.length}`);
  }
  // A diff that deletes and re-adds every line of the shipped train.py, with diff headers.
  const train = await Deno.readTextFile(new URL("../../workspace/train.py", import.meta.url));
  const lines = train.split("\n");
  const diff = "--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n" +
    lines.map((l) => `-${l}`).join("\n") + "\n" + lines.map((l) => `+${l}`).join("\n");
  const rec = signRecord(payloadWith({ diff }), seed);
  assert.equal(reasonOf(await validateRecord(rec)), "");
  assert.equal(checkRecord(rec), null);
});

Deno.test("limits: a signed record with an oversized text field is refused with a reason", async () => {
  for (const field of ["description", "hypothesis", "diff", "gpu_model"] as const) {
    const rec = signRecord(
      payloadWith({ [field]: "x".repeat(RECORD_TEXT_LIMITS[field]! + 1) }),
      seed,
    );
    const why = reasonOf(await validateRecord(rec));
    assert.match(why, new RegExp(`record too large: field "${field}"`));
    assert.equal(checkRecord(rec), why);
  }
});

Deno.test("limits: a record within every field limit but over the canonical byte limit is refused", async () => {
  // Non-ASCII characters are six canonical bytes each (\uXXXX).
  const diff = "\u00e9".repeat(RECORD_TEXT_LIMITS.diff!);
  const rec = signRecord(payloadWith({ diff }), seed);
  const why = reasonOf(await validateRecord(rec));
  assert.match(why, /record too large: \d+ canonical bytes/);
  assert.equal(checkRecord(rec), why);
});

Deno.test("limits: an experiment frame over its byte limit is refused before validation", () => {
  const rec = signRecord(payloadWith({ description: "x".repeat(2 * 1024 * 1024) }), seed);
  const r = parseMessage(enc(envelopeRaw("experiment", recordJson(rec))));
  assert.match(reasonOf(r), /^experiment of \d+ bytes exceeds its limit/);
});

function challenge(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    event_id: "challenge:e:c",
    experiment_id: "e",
    challenger_id: "c",
    challenger_bpb: 1.0,
    challenger_gpu: "CPU",
    ...extra,
  };
}

Deno.test("limits: control payloads are bounded in keys and bytes", () => {
  const ok = parseMessage(enc(envelope("challenge", challenge({ note: "x" }))));
  assert.ok(ok.ok);
  const keys: Record<string, number> = {};
  for (let i = 0; i < MAX_CONTROL_KEYS; i++) keys[`k${i}`] = i;
  assert.match(
    reasonOf(parseMessage(enc(envelope("challenge", challenge(keys))))),
    /challenge: \d+ keys \(limit 32\)/,
  );
  const big = enc(envelope("verification", challenge({ pad: "x".repeat(MAX_CONTROL_BYTES) })));
  assert.match(reasonOf(parseMessage(big)), /^verification of \d+ bytes exceeds its limit/);
});

Deno.test("limits: a frame with a million keys is refused without being parsed", () => {
  const parts: string[] = [];
  for (let i = 0; i < 1_000_000; i++) parts.push(`"k${i}":1`);
  const body = enc(`{"type":"challenge","payload":{${parts.join(",")}}}`);
  assert.ok(body.length > 8_000_000);
  const before = Deno.memoryUsage().heapUsed;
  const r = parseMessage(body);
  assert.match(reasonOf(r), /more than 16384 JSON tokens/);
  // Parsing would have built a million-property object (tens of MB); the scan allocates nothing.
  assert.ok(Deno.memoryUsage().heapUsed - before < 8_000_000);
});

Deno.test("limits: the token count ignores structure characters inside strings", () => {
  assert.equal(countJsonTokens(enc('{"a":"{[,:\\"]}","b":[1,2]}')), 6);
  const s = enc(JSON.stringify({ t: ",".repeat(MAX_JSON_TOKENS * 2) }));
  assert.equal(countJsonTokens(s), 2);
});
