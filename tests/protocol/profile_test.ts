import assert from "node:assert/strict";
import {
  canonicalProfile,
  hexToBytes,
  type ProfilePayload,
  signProfile,
  validateProfile,
} from "../../src/protocol/mod.ts";
import { reasonOf, vectors } from "./vectors.ts";

Deno.test("every vector profile: canonical bytes, id and signature match Python", async () => {
  assert(vectors.profiles.length >= 3);
  for (const v of vectors.profiles) {
    assert.equal(canonicalProfile(v.wire), v.canonical);
    const { id: _id, signature: _sig, ...payload } = v.wire;
    const key = vectors.keys.find((k) => k.node_id === v.wire.node_id)!;
    const signed = signProfile(payload as ProfilePayload, hexToBytes(key.seed_hex));
    assert.equal(signed.id, v.id);
    assert.equal(signed.signature, v.signature);
    const r = await validateProfile(v.wire);
    assert(r.ok, reasonOf(r));
  }
});

Deno.test("tampered or malformed profiles are rejected", async () => {
  const wire = vectors.profiles[0]!.wire;
  const tampered = await validateProfile({ ...wire, bio: "changed" });
  assert.equal(reasonOf(tampered), "cid mismatch");
  const other = vectors.profiles.find((p) => p.wire.node_id !== wire.node_id)!.wire;
  const wrongKey = await validateProfile({ ...wire, signature: other.signature });
  assert.equal(reasonOf(wrongKey), "bad signature");
  const badType = await validateProfile({ ...wire, timestamp: "now" });
  assert(reasonOf(badType).includes("timestamp"));
});
