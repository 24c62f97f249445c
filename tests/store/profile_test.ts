import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  canonicalProfile,
  type NodeProfile,
  type ProfilePayload,
  signProfile,
} from "../../src/protocol/mod.ts";
import { ProfileStore, StoreError } from "../../src/store/mod.ts";
import { vectors } from "../protocol/vectors.ts";
import { NODE_IDS, SEEDS, withTempDir } from "./helpers.ts";

function profile(
  key: number,
  timestamp: number,
  fields: Partial<ProfilePayload> = {},
): NodeProfile {
  return signProfile({
    node_id: NODE_IDS[key]!,
    display_name: `node ${key} at ${timestamp}`,
    bio: "",
    website: "",
    avatar_url: "",
    donation_address: "",
    timestamp,
    schema_version: 1,
    ...fields,
  }, SEEDS[key]!);
}

Deno.test("profiles: vector profiles round-trip exactly", async () => {
  await withTempDir((dir) => {
    const p = ProfileStore.open(join(dir, "profile.sqlite"));
    for (const v of vectors.profiles) {
      p.upsert(v.wire);
      const got = p.get(v.wire.node_id);
      assert.ok(got);
      assert.equal(canonicalProfile(got), canonicalProfile(v.wire));
    }
    p.close();
  });
});

Deno.test("profiles: newest timestamp wins; older, equal and identical are no-ops", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "profile.sqlite");
    let p = ProfileStore.open(path);
    const v1 = profile(0, 100);
    const v2 = profile(0, 200);
    const old = profile(0, 50);
    const sameTime = profile(0, 200, { bio: "other" });
    assert.equal(p.upsert(v1), true);
    assert.equal(p.upsert(v1), false);
    assert.equal(p.upsert(v2), true);
    assert.equal(p.upsert(old), false);
    assert.equal(p.upsert(sameTime), false);
    assert.deepEqual(p.get(NODE_IDS[0]!), v2);
    p.close();
    p = ProfileStore.open(path);
    assert.deepEqual(p.get(NODE_IDS[0]!), v2);
    assert.equal(p.get("f".repeat(64)), undefined);
    p.close();
  });
});

Deno.test("profiles: text SQLite cannot hold is still reproduced exactly", async () => {
  await withTempDir((dir) => {
    const p = ProfileStore.open(join(dir, "profile.sqlite"));
    const odd = profile(1, 10, { bio: "nul\u0000in bio", display_name: "lone \udc00" });
    assert.equal(p.upsert(odd), true);
    assert.deepEqual(p.get(NODE_IDS[1]!), odd);
    p.close();
  });
});

Deno.test("profiles: invalid shapes are refused", async () => {
  await withTempDir((dir) => {
    const p = ProfileStore.open(join(dir, "profile.sqlite"));
    const bad = { ...profile(0, 1), timestamp: "soon" } as unknown as NodeProfile;
    assert.throws(() => p.upsert(bad), StoreError);
    assert.equal(p.maxSeq(), 0);
    p.close();
  });
});

Deno.test("profiles: all, displayNames, and afterSeq following replacements", async () => {
  await withTempDir((dir) => {
    const p = ProfileStore.open(join(dir, "profile.sqlite"));
    p.upsert(profile(0, 1, { display_name: "alice" }));
    p.upsert(profile(1, 1, { display_name: "" }));
    assert.equal(p.maxSeq(), 2);
    assert.deepEqual(p.all(10).map((x) => x.node_id), [...NODE_IDS].sort());
    assert.deepEqual(
      p.displayNames([NODE_IDS[0]!, NODE_IDS[1]!, "f".repeat(64)]),
      new Map([[NODE_IDS[0], "alice"]]),
    );
    const replaced = profile(0, 2, { display_name: "alice2" });
    p.upsert(replaced);
    assert.deepEqual(p.afterSeq(0, 10).map((x) => [x.seq, x.profile.node_id]), [
      [2, NODE_IDS[1]],
      [3, NODE_IDS[0]],
    ]);
    assert.deepEqual(p.afterSeq(2, 10).map((x) => x.profile), [replaced]);
    p.close();
  });
});

Deno.test("profiles: a Python-written table opens unchanged and gets sequence numbers", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "profile.sqlite");
    const db = new DatabaseSync(path);
    db.exec(`CREATE TABLE node_profile (node_id TEXT PRIMARY KEY, id TEXT, display_name TEXT,
      bio TEXT, website TEXT, avatar_url TEXT, donation_address TEXT, timestamp INTEGER,
      signature TEXT, schema_version INTEGER)`);
    const ins = db.prepare("INSERT INTO node_profile VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const { wire: w } of vectors.profiles.slice(0, 1)) {
      ins.run(
        w.node_id,
        w.id,
        w.display_name,
        w.bio,
        w.website,
        w.avatar_url,
        w.donation_address,
        w.timestamp,
        w.signature,
        w.schema_version,
      );
    }
    db.close();
    const p = ProfileStore.open(path);
    const want = vectors.profiles[0]!.wire;
    assert.equal(canonicalProfile(p.get(want.node_id)!), canonicalProfile(want));
    assert.deepEqual(p.afterSeq(0, 10).map((x) => x.seq), [1]);
    p.close();
  });
});
