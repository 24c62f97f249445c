import assert from "node:assert/strict";
import { join } from "node:path";
import {
  bundledWorkspaceDir,
  createRunWorkspace,
  WORKSPACE_FILES,
} from "../../src/training/mod.ts";
import { PYTHON3 } from "./_env.ts";

const WS = bundledWorkspaceDir();

/**
 * The embedded corpus is the network-wide dataset identity: every node on every platform must
 * generate exactly these bytes. Changing the generator means bumping SYNTHETIC_VERSION and this.
 */
const SYNTHETIC_V1_CID = "22216658cfe74c3dd1d03976e8ce7fa30816428d1ae494f5b62b74a5148b573b";

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function py(args: string[], env: Record<string, string> = {}) {
  // No __pycache__ in the source tree.
  const fullEnv = { ...env, PYTHONDONTWRITEBYTECODE: "1" };
  const out = await new Deno.Command(PYTHON3!, { args, cwd: WS, env: fullEnv }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "batching.py snaps the device batch to a divisor of the sequences per step",
  ignore: PYTHON3 === null,
  async fn() {
    const self = await py(["batching.py"]);
    assert.equal(self.code, 0, self.stderr);
    const r = await py([
      "-c",
      "from batching import device_batch_size as d\n" +
      "print([d(64, p, 64 * 256, 256) for p in (100, 75, 50, 30, 10, 1)])\n" +
      "print(d(64, 100, 48 * 256, 256))",
    ]);
    assert.equal(r.code, 0, r.stderr);
    // 75% of 64 = 48 -> 32 (largest divisor of 64 below 48); 30% = 19 -> 16; 10% = 6 -> 4.
    assert.equal(r.stdout.trim(), "[64, 32, 32, 16, 4, 1]\n48");
  },
});

Deno.test({
  name: "prepare.py: deterministic corpus, identities match the bytes, cache in SPORE_CACHE_DIR",
  ignore: PYTHON3 === null,
  async fn() {
    const cache = await Deno.makeTempDir();
    try {
      const first = await py(["prepare.py", "--cid"], { SPORE_CACHE_DIR: cache });
      assert.equal(first.code, 0, first.stderr);
      const ids = JSON.parse(first.stdout);
      const corpus = await Deno.readFile(join(cache, "synthetic-v1", "corpus.bin"));
      assert.equal(ids.dataset_cid, await sha256Hex(corpus));
      assert.equal(ids.prepare_cid, await sha256Hex(await Deno.readFile(join(WS, "prepare.py"))));
      assert.equal(ids.dataset_cid, SYNTHETIC_V1_CID);
      // Byte-level text: printable ASCII plus newlines only.
      assert.ok(corpus.every((b) => b === 10 || (b >= 32 && b < 127)));
      // Regenerating in a fresh process and a fresh cache gives the same bytes.
      const cache2 = await Deno.makeTempDir();
      try {
        const again = await py(["prepare.py"], { SPORE_CACHE_DIR: cache2 });
        assert.equal(again.code, 0, again.stderr);
        assert.equal(JSON.parse(again.stdout).dataset_cid, ids.dataset_cid);
      } finally {
        await Deno.remove(cache2, { recursive: true });
      }
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
});

Deno.test({
  name: "prepare.py rejects an unknown SPORE_DATASET with a clear message",
  ignore: PYTHON3 === null,
  async fn() {
    const cache = await Deno.makeTempDir();
    try {
      const r = await py(["prepare.py"], { SPORE_CACHE_DIR: cache, SPORE_DATASET: "nope" });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown SPORE_DATASET 'nope': use 'synthetic' or 'fineweb-edu'/);
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
});

Deno.test("createRunWorkspace makes a fresh copy with the given train.py", async () => {
  const ws = await createRunWorkspace({ trainPy: "print('hello')\n" });
  try {
    const names = [];
    for await (const e of Deno.readDir(ws.dir)) names.push(e.name);
    assert.deepEqual(names.sort(), [".tmp", ...WORKSPACE_FILES].sort());
    assert.equal(await Deno.readTextFile(join(ws.dir, "train.py")), "print('hello')\n");
    assert.deepEqual(
      await Deno.readFile(join(ws.dir, "prepare.py")),
      await Deno.readFile(join(WS, "prepare.py")),
    );
  } finally {
    await ws.dispose();
  }
  await assert.rejects(Deno.stat(ws.dir), Deno.errors.NotFound);
});
