import assert from "node:assert/strict";
import {
  acquireDataDirLock,
  DataDirLockedError,
  isDataDirLocked,
  readPid,
} from "../../src/ops/lock.ts";

Deno.test("a second lock on the same data dir is refused at once; release frees it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lock = acquireDataDirLock(dir);
    assert.equal(readPid(dir), Deno.pid);
    assert.throws(() => acquireDataDirLock(dir), (e: Error) => {
      assert.ok(e instanceof DataDirLockedError);
      assert.match(e.message, new RegExp(`already running on .*pid ${Deno.pid}`));
      return true;
    });
    assert.equal(isDataDirLocked(dir), true);
    lock.release();
    assert.equal(readPid(dir), undefined);
    assert.equal(isDataDirLocked(dir), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lock held by a killed process is free again; its stale pid file is replaced", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `import { acquireDataDirLock } from "${
      new URL("../../src/ops/lock.ts", import.meta.url).href
    }";
acquireDataDirLock(${JSON.stringify(dir)}); console.log("locked"); setTimeout(() => {}, 60000);`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /locked/);
    assert.equal(isDataDirLocked(dir), true);
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    assert.ok(readPid(dir)! > 0); // stale pid file left behind by kill -9
    const lock = acquireDataDirLock(dir);
    assert.equal(readPid(dir), Deno.pid);
    lock.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
