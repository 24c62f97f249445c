import assert from "node:assert/strict";
import { join } from "node:path";
import { findPython, TrainingSetupError } from "../../src/training/mod.ts";
import { PYTHON3, TORCH } from "./_env.ts";

const noEnv = () => undefined;

Deno.test("missing python gives one actionable message", async () => {
  const err = await findPython({ candidates: ["/nonexistent/spore/python3"], env: noEnv })
    .catch((e) => e);
  assert.ok(err instanceof TrainingSetupError);
  assert.equal(err.problem, "python_missing");
  assert.match(err.message, /No Python 3 interpreter found/);
  assert.match(err.message, /apt-get install python3-torch/);
  assert.match(err.message, /--python PATH/);
});

Deno.test("a configured python that does not exist is an error, not a silent fallback", async () => {
  const err = await findPython({ explicit: "/nonexistent/py", env: noEnv }).catch((e) => e);
  assert.ok(err instanceof TrainingSetupError);
  assert.equal(err.problem, "python_missing");
  assert.match(err.message, /"\/nonexistent\/py" does not exist/);
});

Deno.test({
  name: "python without torch gives one actionable message",
  ignore: PYTHON3 === null,
  async fn() {
    // A real interpreter with site-packages switched off cannot see torch.
    const dir = await Deno.makeTempDir();
    try {
      const shim = join(dir, "python-no-torch");
      await Deno.writeTextFile(shim, `#!/bin/sh\nexec ${PYTHON3} -I -S "$@"\n`, { mode: 0o755 });
      const err = await findPython({ candidates: [shim], env: noEnv }).catch((e) => e);
      assert.ok(err instanceof TrainingSetupError);
      assert.equal(err.problem, "torch_missing");
      assert.match(err.message, /cannot import torch|none can import torch/);
      assert.match(err.message, /ModuleNotFoundError/);
      assert.match(err.message, /apt-get install python3-torch/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "findPython reports torch and the install roots",
  ignore: TORCH === null,
  async fn() {
    const info = await findPython({ explicit: TORCH!.path });
    assert.equal(info.path, TORCH!.path);
    assert.ok(info.realPath.startsWith("/"), "the sandbox needs the resolved binary");
    assert.match(info.torch.version, /^\d+\.\d+/);
    assert.ok(info.roots.length > 0 && info.roots.every((r) => r.startsWith("/")));
    // SPORE_PYTHON is honoured when nothing explicit is given.
    const viaEnv = await findPython({
      env: (n) => (n === "SPORE_PYTHON" ? TORCH!.path : undefined),
    });
    assert.equal(viaEnv.path, TORCH!.path);
  },
});
