import assert from "node:assert/strict";
import {
  INSTALL_PROGRAMS,
  installCommand,
  installPackages,
  installRight,
  type PackageProbe,
  packagesFor,
  type StepRunner,
} from "../../src/ops/system_packages.ts";
import type { Exec } from "../../src/training/exec.ts";
import { ensureTestDeps } from "../../scripts/test_deps.ts";
import { offerResearchPackages } from "../../src/cli/packages.ts";

/** A probe that finds everything except `missing` (until `installed` is set). */
function fakeMachine(missing: string[]) {
  const state = { installed: false, calls: [] as { names: readonly string[]; right: string }[] };
  const probe: PackageProbe = (pkg) =>
    Promise.resolve(state.installed || !missing.includes(pkg.name));
  const install = (names: readonly string[], right: "root" | "sudo") => {
    state.calls.push({ names, right });
    state.installed = true;
    return Promise.resolve(null);
  };
  return { state, probe, install };
}

Deno.test("test deps: a missing package without install rights stops with its exact command", async () => {
  const m = fakeMachine(["chromium"]);
  const out = await ensureTestDeps({
    probe: m.probe,
    checkOnly: false,
    right: () => Promise.resolve("none"),
    install: m.install,
  });
  assert.deepEqual(out.ok, false);
  const text = out.lines.join("\n");
  assert.match(text, /missing system packages: chromium \(the explorer's browser tests\)/);
  assert.ok(text.includes("sudo apt-get update && sudo apt-get install -y chromium"), text);
  assert.deepEqual(m.state.calls.length, 0, "nothing is installed without the right to");
});

Deno.test("test deps: as root the missing packages are installed, then checked again", async () => {
  const m = fakeMachine(["bubblewrap", "chromium"]);
  const out = await ensureTestDeps({
    probe: m.probe,
    checkOnly: false,
    right: () => Promise.resolve("root"),
    install: m.install,
  });
  assert.deepEqual(out.ok, true, out.lines.join("\n"));
  assert.deepEqual(m.state.calls, [{ names: ["bubblewrap", "chromium"], right: "root" }]);
  assert.ok(out.lines.some((l) => l.includes("apt-get install -y bubblewrap chromium")));
});

Deno.test("test deps: --check never installs, even as root", async () => {
  const m = fakeMachine(["python3-torch"]);
  const out = await ensureTestDeps({
    probe: m.probe,
    checkOnly: true,
    right: () => Promise.resolve("root"),
    install: m.install,
  });
  assert.deepEqual(out.ok, false);
  assert.deepEqual(m.state.calls.length, 0);
});

Deno.test("test deps: a failed install names the command to run by hand", async () => {
  const m = fakeMachine(["bubblewrap"]);
  const out = await ensureTestDeps({
    probe: m.probe,
    checkOnly: false,
    right: () => Promise.resolve("sudo"),
    install: () => Promise.resolve("apt-get install exited with code 100"),
  });
  assert.deepEqual(out.ok, false);
  assert.ok(out.lines.join("\n").includes("code 100"));
  assert.ok(out.lines.join("\n").includes("sudo apt-get install -y bubblewrap"));
});

Deno.test("test deps: the script run as `deno task test` runs it names a missing package (simulated by a Python without torch)", async () => {
  const script = new URL("../../scripts/test_deps.ts", import.meta.url).pathname;
  // A configured Python that does not exist is what a machine without python3-torch looks like
  // to the probe; nothing is uninstalled.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-run",
      "--allow-env",
      "--allow-sys=uid",
      script,
      "--check",
    ],
    env: { SPORE_PYTHON: "/nonexistent/python3" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.deepEqual(out.code, 1, err);
  assert.match(err, /missing system packages: python3-torch/);
  assert.ok(err.includes("apt-get install -y python3-torch"), err);
});

Deno.test("install: root runs apt-get directly, others through sudo -n; update first", async () => {
  for (const right of ["root", "sudo"] as const) {
    const steps: string[][] = [];
    const run: StepRunner = (cmd, args, env) => {
      steps.push([cmd, ...args]);
      assert.deepEqual(env.DEBIAN_FRONTEND, "noninteractive");
      return Promise.resolve(0);
    };
    assert.deepEqual(await installPackages(["bubblewrap"], right, run), null);
    const apt = right === "root" ? [INSTALL_PROGRAMS.aptGet] : [
      INSTALL_PROGRAMS.sudo,
      "-n",
      INSTALL_PROGRAMS.aptGet,
    ];
    assert.deepEqual(steps, [[...apt, "update", "-q"], [
      ...apt,
      "install",
      "-y",
      "-q",
      "bubblewrap",
    ]]);
  }
  const failing: StepRunner = (_c, args) => Promise.resolve(args.includes("update") ? 100 : 0);
  assert.deepEqual(
    await installPackages(["x"], "root", failing),
    "apt-get update exited with code 100",
  );
});

Deno.test("install right: no apt-get, root, passwordless sudo, sudo that wants a password", async () => {
  const exec = (apt: boolean, sudoCode: number): Exec => (cmd) => {
    if (cmd === INSTALL_PROGRAMS.aptGet) {
      return Promise.resolve(apt ? { code: 0, stdout: "apt 2.6", stderr: "" } : null);
    }
    return Promise.resolve({ code: sudoCode, stdout: "", stderr: "" });
  };
  assert.deepEqual(await installRight(exec(false, 0), () => 0), "none");
  assert.deepEqual(await installRight(exec(true, 1), () => 0), "root");
  assert.deepEqual(await installRight(exec(true, 0), () => 1000), "sudo");
  assert.deepEqual(await installRight(exec(true, 1), () => 1000), "none");
});

Deno.test("research packages: the y/N offer installs on yes, prints the command on no", async () => {
  assert.deepEqual(packagesFor("research").map((p) => p.name), [
    "python3-torch",
    "libopenblas0-pthread",
    "bubblewrap",
  ]);
  for (const answer of [true, false]) {
    const m = fakeMachine(["python3-torch", "bubblewrap"]);
    const lines: string[] = [];
    const questions: string[] = [];
    const outcome = await offerResearchPackages({
      print: (l) => lines.push(l),
      ask: (q) => (questions.push(q), answer),
      probe: m.probe,
      right: () => Promise.resolve("root"),
      install: m.install,
    });
    assert.deepEqual(questions, ["Install python3-torch bubblewrap now with apt-get?"]);
    assert.deepEqual(outcome, answer ? "installed" : "declined");
    assert.deepEqual(m.state.calls.length, answer ? 1 : 0);
    if (!answer) {
      assert.ok(lines.join("\n").includes(installCommand(["python3-torch", "bubblewrap"])));
    }
  }
});

Deno.test("research packages: without install rights nothing is asked, the command is printed", async () => {
  const m = fakeMachine(["bubblewrap"]);
  const lines: string[] = [];
  const outcome = await offerResearchPackages({
    print: (l) => lines.push(l),
    ask: () => {
      throw new Error("must not ask");
    },
    probe: m.probe,
    right: () => Promise.resolve("none"),
    install: m.install,
  });
  assert.deepEqual(outcome, "manual");
  assert.ok(lines.join("\n").includes("sudo apt-get install -y bubblewrap"));
});
