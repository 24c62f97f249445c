/**
 * Foreign research workspaces (`--workspace`): class resolution, the home cache bound read-only
 * where the script looks, the Python output format through `spore train --json`, and the compile
 * policy (SPORE_DISABLE_COMPILE passthrough, a compile crash remembered for later runs).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { spore, withTemp } from "../cli/helpers.ts";
import {
  CLIMBMIX,
  STANDIN_TRAIN,
  standinValBpb,
  writeStandinWorkspace,
} from "../fixtures/autoresearch_workspace.ts";
import {
  homeCacheOf,
  inspectWorkspace,
  resolveDatasetCid,
  resolveWorkspace,
  SYNTHETIC_DATASET_CID,
} from "../../src/training/research_workspace.ts";
import { TrainingSetupError } from "../../src/training/errors.ts";
import { TrainingRuntime } from "../../src/training/runtime.ts";
import type { ProgressEvent } from "../../src/training/runner.ts";
import { COMPILE_MEMORY_FILE } from "../../src/training/compile_policy.ts";
import { bundledWorkspaceDir } from "../../src/training/workspace.ts";
import { BWRAP, PYTHON3, TORCH } from "./_env.ts";
import { runDoctor } from "../../src/cli/doctor.ts";
import { workspaceReadPaths } from "../../src/cli/workspace_options.ts";
import { configPath, loadConfig } from "../../src/config.ts";

Deno.test("homeCacheOf finds where prepare.py reads under the home, in the usual spellings", () => {
  const cases: [string, string | undefined][] = [
    [
      'CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "autoresearch")',
      ".cache/autoresearch",
    ],
    ["d = os.path.expanduser('~/.cache/nanochat')", ".cache/nanochat"],
    ['d = Path.home() / ".cache" / "x-y"', ".cache/x-y"],
    ['d = os.path.expanduser("~")', undefined],
    ['d = os.path.join(os.path.expanduser("~"), "..", "etc")', undefined],
    ["MAX_SEQ_LEN = 2048", undefined],
  ];
  for (const [src, want] of cases) assert.equal(homeCacheOf(src), want, src);
});

Deno.test("resolveDatasetCid: flag, then config, then the graph's most common, else how to set it", () => {
  const layout = { dir: "/w", prepareCid: "ab".repeat(32) };
  const graph = [{ datasetCid: "from-graph", count: 5 }, { datasetCid: "rare", count: 1 }];
  assert.deepEqual(resolveDatasetCid(layout, { flag: "f", config: "c", graph }), {
    datasetCid: "f",
    source: "flag",
  });
  assert.equal(resolveDatasetCid(layout, { config: "c", graph }).source, "config");
  assert.deepEqual(resolveDatasetCid(layout, { graph }), {
    datasetCid: "from-graph",
    source: "graph",
  });
  assert.throws(
    () => resolveDatasetCid(layout, { graph: [] }),
    (e) => e instanceof TrainingSetupError && /--dataset-cid/.test(e.message),
  );
  assert.throws(
    () => resolveDatasetCid(layout, { flag: "has space", graph }),
    (e) => e instanceof TrainingSetupError && /printable/.test(e.message),
  );
});

Deno.test("a stand-in autoresearch workspace: foreign class, budget and home cache from prepare.py", async () => {
  await withTemp(async (root) => {
    const ws = await writeStandinWorkspace(root);
    const layout = await inspectWorkspace(ws.dir);
    assert.equal(layout.embedded, false);
    assert.equal(layout.prepareCid, ws.prepareCid);
    assert.equal(layout.timeBudget, 300);
    assert.equal(layout.hasBatching, false);
    assert.equal(layout.homeCache, ".cache/autoresearch");
    const r = await resolveWorkspace({
      dir: ws.dir,
      dataCache: ws.dataCache,
      graphDatasets: () => [{ datasetCid: CLIMBMIX, count: 3 }],
    });
    assert.deepEqual(r.researchClass, { datasetCid: CLIMBMIX, prepareCid: ws.prepareCid });
    assert.equal(r.datasetSource, "graph");
    assert.equal(r.dataCache, ws.dataCache);
    // The embedded workspace is recognized by its prepare.py, whatever the directory.
    assert.equal((await inspectWorkspace(bundledWorkspaceDir())).embedded, true);
  });
});

Deno.test({
  name: "SYNTHETIC_DATASET_CID is what the embedded prepare.py names its default corpus",
  ignore: PYTHON3 === null,
  async fn() {
    await withTemp(async (dir) => {
      const out = await new Deno.Command(PYTHON3!, {
        args: [join(bundledWorkspaceDir(), "prepare.py"), "--cid"],
        env: { SPORE_CACHE_DIR: dir },
        clearEnv: true,
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const info = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
      assert.equal(info.dataset_cid, SYNTHETIC_DATASET_CID);
    });
  },
});

const RUNTIME = TORCH !== null && BWRAP !== null;

Deno.test({
  name:
    "spore train --workspace W --json: the Python format parsed, the home cache bound read-only",
  ignore: !RUNTIME,
  async fn() {
    await withTemp(async (root) => {
      const ws = await writeStandinWorkspace(root);
      const dataDir = join(root, "data");
      const args = ["train", "--data-dir", dataDir, "--workspace", ws.dir, "--json"];
      // No dataset named and no graph yet: a clear error saying how to set it.
      const unknown = await spore(...args, "--data-cache", ws.dataCache);
      assert.equal(unknown.code, 1);
      assert.match(unknown.err, /--dataset-cid NAME/);
      // Data missing where the script looks: said before any run.
      const missing = await spore(
        ...args,
        "--dataset-cid",
        CLIMBMIX,
        "--data-cache",
        join(root, "nowhere"),
      );
      assert.equal(missing.code, 1);
      assert.match(missing.err, /prepared data .*nowhere does not exist.*prepare\.py/s);

      const res = await spore(...args, "--dataset-cid", CLIMBMIX, "--data-cache", ws.dataCache);
      assert.equal(res.code, 0, res.err);
      const out = JSON.parse(res.out);
      assert.equal(out.ok, true);
      assert.equal(out.val_bpb, standinValBpb(STANDIN_TRAIN));
      assert.equal(out.num_params, 50_400_000, "num_params_M 50.4 x 1e6");
      assert.equal(out.num_steps, 3);
      assert.equal(out.dataset_cid, CLIMBMIX);
      assert.equal(out.prepare_cid, ws.prepareCid);
      assert.equal(out.sandboxed, true);
      // The cache stayed read-only and untouched.
      assert.deepEqual(
        [...Deno.readDirSync(join(ws.dataCache, "data"))].map((e) => e.name),
        ["shard_00000.parquet"],
      );
    });
  },
});

Deno.test({
  name:
    "compile: SPORE_DISABLE_COMPILE=1 reaches train.py; a compile crash disables compile for good",
  ignore: !RUNTIME,
  async fn() {
    await withTemp(async (root) => {
      const ws = await writeStandinWorkspace(root);
      const dataDir = join(root, "data");
      const foreign = await resolveWorkspace({
        dir: ws.dir,
        datasetCid: CLIMBMIX,
        dataCache: ws.dataCache,
        graphDatasets: () => [],
      });
      // A CPU host never compiles: the override stands for a GPU whose default is compile on.
      const create = () =>
        TrainingRuntime.create({ dataDir, foreign, deviceCompileDisabled: false });
      const rt = await create();
      const before = Deno.env.get("SPORE_DISABLE_COMPILE");
      try {
        Deno.env.delete("SPORE_DISABLE_COMPILE");
        const progress: ProgressEvent[] = [];
        const on = await rt.train({ code: STANDIN_TRAIN, onProgress: (e) => progress.push(e) });
        assert.ok(on.ok, on.log);
        // The `\r`-redrawn progress line of the Python format drives the progress bar.
        const steps = progress.filter((e) => e.phase === "training").map((e) => e.progress?.step);
        assert.deepEqual(steps, [1, 2, 3]);
        assert.match(on.log, /^compile: on$/m, "the device default keeps compile on");
        Deno.env.set("SPORE_DISABLE_COMPILE", "1");
        assert.match(rt.compile.why ?? "", /SPORE_DISABLE_COMPILE=1/);
        const off = await rt.train({ code: STANDIN_TRAIN });
        assert.ok(off.ok, off.log);
        assert.match(off.log, /^compile: off$/m, "the user's variable reached the sandbox");
        Deno.env.delete("SPORE_DISABLE_COMPILE");

        const crashing = STANDIN_TRAIN.replace(
          "CRASH_IN_COMPILE = False",
          "CRASH_IN_COMPILE = True",
        );
        assert.equal(rt.compileDisabled, false);
        const first = await rt.train({ code: crashing });
        assert.ok(first.ok, first.log);
        assert.equal(first.compileRetried, true);
        assert.match(first.compileFailure ?? "", /BackendCompilerFailed/);
        // The same runtime, and a fresh one on the data dir (a restart), start with compile off.
        assert.equal(rt.compileDisabled, true);
        const again = await rt.train({ code: crashing });
        assert.equal(again.compileRetried, false);
        assert.ok(again.ok && /^compile: off$/m.test(again.log), again.log);
        const restarted = await create();
        assert.equal(restarted.compileDisabled, true);
        const why = restarted.compile.why ?? "";
        assert.match(why, /crashed in torch\.compile at \d{4}-.*BackendCompilerFailed/);
        assert.ok(why.includes(COMPILE_MEMORY_FILE), why);
        const later = await restarted.train({ code: STANDIN_TRAIN });
        assert.ok(later.ok && /^compile: off$/m.test(later.log), later.log);
      } finally {
        if (before === undefined) Deno.env.delete("SPORE_DISABLE_COMPILE");
        else Deno.env.set("SPORE_DISABLE_COMPILE", before);
      }
    });
  },
});

Deno.test("spore doctor --workspace: says whether the workspace's prepared data is there", async () => {
  await withTemp(async (root) => {
    const ws = await writeStandinWorkspace(root);
    const dataDir = join(root, "data");
    const config = await loadConfig(dataDir);
    const byName = async (o: Record<string, string>) =>
      new Map((await runDoctor(dataDir, config, {
        exec: () => Promise.resolve(null),
        workspace: { workspace: ws.dir, datasetCid: CLIMBMIX, ...o },
      })).map((c) => [c.name, c]));
    const ready = await byName({ dataCache: ws.dataCache });
    assert.equal(ready.get("workspace")?.status, "ok");
    assert.match(ready.get("workspace")!.detail, /climbmix-400b-shuffle/);
    assert.equal(ready.get("workspace data")?.status, "ok");
    assert.equal(ready.has("training data"), false, "the embedded data is beside the point");
    const missing = await byName({ dataCache: join(root, "nowhere") });
    assert.equal(missing.get("workspace data")?.status, "fail");
    assert.match(missing.get("workspace data")!.fix, /uv run prepare\.py/);
    const unknown = (await runDoctor(dataDir, config, {
      exec: () => Promise.resolve(null),
      workspace: { workspace: ws.dir },
    })).find((c) => c.name === "workspace");
    assert.equal(unknown?.status, "fail");
    assert.match(unknown!.fix, /--dataset-cid NAME/);
  });
});

Deno.test({
  name: "--unsafe-no-sandbox: the run's home links to --data-cache, so the script finds its data",
  ignore: TORCH === null,
  async fn() {
    await withTemp(async (root) => {
      const ws = await writeStandinWorkspace(root);
      const foreign = await resolveWorkspace({
        dir: ws.dir,
        datasetCid: CLIMBMIX,
        dataCache: ws.dataCache,
        graphDatasets: () => [],
      });
      const rt = await TrainingRuntime.create({
        dataDir: join(root, "data"),
        foreign,
        unsafeNoSandbox: true,
      });
      const r = await rt.train({ code: STANDIN_TRAIN });
      assert.ok(r.ok, r.log);
      assert.equal(r.metrics.valBpb, standinValBpb(STANDIN_TRAIN));
    });
  },
});

Deno.test("config.toml paths: ~/ is the home, relative ones are relative to the data dir", () => {
  assert.equal(configPath(undefined, "/d"), undefined);
  assert.equal(configPath("ws", "/d"), "/d/ws");
  assert.equal(configPath("/abs/ws", "/d"), "/abs/ws");
  assert.ok(configPath("~/autoresearch", "/d")!.endsWith("/autoresearch"));
  assert.ok(!configPath("~/autoresearch", "/d")!.startsWith("~"));
});

Deno.test("spore start --workspace: the child may read the workspace and its data cache", async () => {
  await withTemp(async (root) => {
    const ws = await writeStandinWorkspace(root);
    const config = await loadConfig(join(root, "data"));
    assert.deepEqual(await workspaceReadPaths(["--max-experiments", "3"], config), []);
    assert.deepEqual(
      await workspaceReadPaths(["--workspace", ws.dir, `--data-cache=${ws.dataCache}`], config),
      [ws.dir, ws.dataCache],
    );
    // Without --data-cache: where the workspace's prepare.py looks under the home.
    const [dir, cache] = await workspaceReadPaths(["--workspace", ws.dir], config);
    assert.equal(dir, ws.dir);
    assert.ok(cache?.endsWith("/.cache/autoresearch"), cache);
  });
});
