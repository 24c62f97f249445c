import assert from "node:assert/strict";
import {
  buildSandboxArgs,
  BWRAP_INSTALL_HINT,
  findBwrap,
  type SandboxSpec,
  TrainingSetupError,
} from "../../src/training/mod.ts";
import { bindableRoots } from "../../src/training/sandbox.ts";

const SPEC: SandboxSpec = {
  bwrap: "bwrap",
  workspaceDir: "/tmp/spore-run-1",
  dataDir: "/home/u/.spore/cache",
  python: "/usr/bin/python3.11",
  pythonRoots: ["/usr", "/usr/lib/python3/dist-packages", "/home/u/venv", "/home/u", "/opt/py"],
  hiddenPaths: ["/home/u/.spore"],
  homeDir: "/home/u",
  env: { SPORE_MAX_STEPS: "5" },
  argv: ["train.py"],
  system: [{ path: "/usr" }, { path: "/bin", symlinkTo: "usr/bin" }],
  gpuDevices: [],
  maxProcesses: 256,
  asRoot: false,
};

/** Pairs of (flag, src, dest) for the bind flags in an argument list. */
function binds(args: string[]): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  for (let i = 0; i < args.length; i++) {
    if (/^--(ro-|dev-)?bind(-try)?$/.test(args[i]!)) {
      out.push([args[i]!, args[i + 1]!, args[i + 2]!]);
    }
  }
  return out;
}

Deno.test("sandbox: isolated namespaces, dies with parent, minimal env", () => {
  const a = buildSandboxArgs(SPEC);
  for (
    const f of [
      "--unshare-net",
      "--unshare-pid",
      "--unshare-ipc",
      "--die-with-parent",
      "--clearenv",
    ]
  ) {
    assert.ok(a.includes(f), f);
  }
  assert.ok(a.includes("--unshare-user"), "non-root uses a user namespace");
  assert.ok(!a.includes("--cap-add"));
  const env = new Map<string, string>();
  for (let i = 0; i < a.length; i++) if (a[i] === "--setenv") env.set(a[i + 1]!, a[i + 2]!);
  assert.equal(env.get("SPORE_CACHE_DIR"), "/data");
  assert.equal(env.get("SPORE_MAX_STEPS"), "5");
  assert.equal(env.get("HOME"), "/workspace");
  assert.ok(![...env.keys()].some((k) => /KEY|TOKEN|SECRET/.test(k)));
  // The command: launcher (process limit) then the script.
  const tail = a.slice(a.indexOf("--"));
  assert.deepEqual(tail.slice(0, 3), ["--", "/usr/bin/python3.11", "-c"]);
  assert.deepEqual(tail.slice(4), ["256", "65534", "p50", "/usr/bin/python3.11", "train.py"]);
});

Deno.test("sandbox: only the workspace is writable; data is read-only", () => {
  const b = binds(buildSandboxArgs(SPEC));
  const writable = b.filter(([f]) => f === "--bind");
  assert.deepEqual(writable, [["--bind", "/tmp/spore-run-1", "/workspace"]]);
  assert.ok(b.some(([f, s, d]) => f === "--ro-bind" && s === SPEC.dataDir && d === "/data"));
  assert.ok(b.some(([f, s]) => f === "--ro-bind" && s === "/usr"));
});

Deno.test("sandbox: never binds home or the node data dir", () => {
  const srcs = binds(buildSandboxArgs(SPEC)).map(([, s]) => s);
  assert.ok(!srcs.includes("/home/u"), "home bound");
  assert.ok(!srcs.some((s) => s.startsWith("/home/u/.spore") && s !== SPEC.dataDir));
  assert.ok(srcs.includes("/home/u/venv"), "an interpreter under home is still reachable");
  assert.ok(srcs.includes("/opt/py"));
  assert.deepEqual(
    bindableRoots(["/", "/home", "/home/u/.spore/venv", "/usr/lib/x", "relative"], [
      "/home/u/.spore",
    ]),
    [],
  );
});

Deno.test("sandbox: root drops privileges instead of a user namespace; GPUs pass through", () => {
  const a = buildSandboxArgs({
    ...SPEC,
    asRoot: true,
    runUid: 212345,
    gpuDevices: ["/dev/nvidia0", "/dev/nvidiactl"],
  });
  assert.ok(!a.includes("--unshare-user"));
  // Launcher argv: process limit, then the uid to drop to.
  assert.equal(a[a.indexOf("-c") + 3], "212345");
  assert.deepEqual(a.filter((x) => x.startsWith("CAP_")), ["CAP_SETUID", "CAP_SETGID"]);
  const dev = binds(a).filter(([f]) => f === "--dev-bind").map(([, s]) => s);
  assert.deepEqual(dev, ["/dev/nvidia0", "/dev/nvidiactl"]);
});

Deno.test("missing bwrap gives one actionable message", async () => {
  const err = await findBwrap(undefined, ["/nonexistent/spore-test/bwrap"]).catch((e) => e);
  assert.ok(err instanceof TrainingSetupError);
  assert.equal(err.problem, "bwrap_missing");
  assert.ok(err.message.includes("apt-get install bubblewrap"));
  assert.ok(err.message.includes("--unsafe-no-sandbox"));
  assert.ok(err.message.endsWith(BWRAP_INSTALL_HINT));
});

Deno.test("sandbox: a foreign workspace's home cache is bound read-only where the script looks", () => {
  const spec = {
    ...SPEC,
    dataDir: undefined,
    homeBinds: [{ host: "/home/u/.cache/autoresearch", rel: ".cache/autoresearch" }],
  };
  const a = buildSandboxArgs(spec);
  const b = binds(a);
  // The bind comes after the workspace's (a mount below it) and is the only one of the cache.
  const ws = b.findIndex(([, , dest]) => dest === "/workspace");
  const cache = b.findIndex(([, src]) => src === "/home/u/.cache/autoresearch");
  assert.ok(ws >= 0 && cache > ws);
  assert.deepEqual(b[cache], [
    "--ro-bind",
    "/home/u/.cache/autoresearch",
    "/workspace/.cache/autoresearch",
  ]);
  // HOME is /workspace, so `~/.cache/autoresearch` is the bind; no /data without prepared data.
  assert.ok(a.join(" ").includes("--setenv HOME /workspace"));
  assert.ok(!b.some(([, , dest]) => dest === "/data"));
  assert.ok(!a.includes("SPORE_CACHE_DIR"));
  for (const rel of ["../etc", "/etc", ".cache/../..", "a b"]) {
    assert.throws(
      () => buildSandboxArgs({ ...spec, homeBinds: [{ host: "/x", rel }] }),
      RangeError,
      rel,
    );
  }
});
