import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256Hex } from "../../src/protocol/mod.ts";
import { ArtifactStore, isCid } from "../../src/store/mod.ts";
import { withTempDir } from "./helpers.ts";

const enc = new TextEncoder();

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...await listFiles(p));
    else out.push(p);
  }
  return out;
}

Deno.test("artifacts: put stores under ab/cd/<cid> and get re-reads the bytes", async () => {
  await withTempDir(async (dir) => {
    const store = new ArtifactStore(join(dir, "artifact"));
    const bytes = enc.encode("print('hello')\n");
    const cid = await store.put(bytes);
    assert.equal(cid, sha256Hex(bytes));
    const file = join(dir, "artifact", cid.slice(0, 2), cid.slice(2, 4), cid);
    assert.deepEqual(await Deno.readFile(file), bytes);
    assert.deepEqual(await store.get(cid), bytes);
    assert.equal(await store.has(cid), true);
    assert.equal(await store.put(bytes), cid);
    // Only the final file remains: no temp files left behind.
    assert.deepEqual(await listFiles(join(dir, "artifact")), [file]);
  });
});

Deno.test("artifacts: putVerified accepts only bytes that hash to the cid", async () => {
  await withTempDir(async (dir) => {
    const store = new ArtifactStore(join(dir, "artifact"));
    const bytes = enc.encode("x = 1\n");
    const wrong = sha256Hex(enc.encode("x = 2\n"));
    assert.equal(await store.putVerified(wrong, bytes), false);
    assert.equal(await store.has(wrong), false);
    assert.equal(await store.putVerified(sha256Hex(bytes), bytes), true);
    assert.deepEqual(await store.get(sha256Hex(bytes)), bytes);
  });
});

Deno.test("artifacts: a corrupted file reads as missing and a new put repairs it", async () => {
  await withTempDir(async (dir) => {
    const store = new ArtifactStore(join(dir, "artifact"));
    const bytes = enc.encode("y = 3\n");
    const cid = await store.put(bytes);
    const file = join(dir, "artifact", cid.slice(0, 2), cid.slice(2, 4), cid);
    await Deno.writeFile(file, enc.encode("tampered"));
    assert.equal(await store.get(cid), undefined);
    assert.equal(await store.putVerified(cid, bytes), true);
    assert.deepEqual(await store.get(cid), bytes);
  });
});

Deno.test("artifacts: a cid found absent reads as present as soon as it is written", async () => {
  await withTempDir(async (dir) => {
    const store = new ArtifactStore(join(dir, "artifact"));
    const bytes = enc.encode("z = 4\n");
    const cid = sha256Hex(bytes);
    assert.equal(await store.get(cid), undefined);
    assert.equal(await store.has(cid), false);
    // A read racing the write (it fails before the file lands) must not hide it afterwards.
    const [, racing] = await Promise.all([store.putVerified(cid, bytes), store.get(cid)]);
    assert.equal(racing, undefined);
    assert.equal(await store.has(cid), true);
    assert.deepEqual(await store.get(cid), bytes);
  });
});

Deno.test("artifacts: malformed cids never touch the filesystem (path traversal)", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "artifact");
    const store = new ArtifactStore(root);
    const secret = join(dir, "secret");
    await Deno.writeTextFile(secret, "do not serve");
    const bad = [
      "../secret",
      "../../" + "a".repeat(58),
      "A".repeat(64),
      "a".repeat(63),
      "a".repeat(65),
      "",
      "g".repeat(64),
      "aa/bb/" + "a".repeat(58),
    ];
    for (const cid of bad) {
      assert.equal(isCid(cid), false, cid);
      assert.equal(await store.get(cid), undefined);
      assert.equal(await store.has(cid), false);
      assert.equal(await store.putVerified(cid, enc.encode("do not serve")), false);
    }
    await assert.rejects(Deno.stat(root), Deno.errors.NotFound);
  });
});
