/**
 * First step of `deno task test`: make sure the system packages the suite needs are installed.
 * Installs the missing ones when it can (root, or passwordless sudo, with apt-get); otherwise
 * stops at once with the exact command to run, instead of letting dozens of tests fail later.
 *
 * Run: deno run --allow-read --allow-run --allow-sys=uid scripts/test_deps.ts [--check]
 *   --check  only report (exit 1 naming what is missing and the command), never install
 * @module
 */
import {
  installCommand,
  installPackages,
  installRight,
  missingPackages,
  type PackageProbe,
  packagesFor,
  systemProbe,
} from "../src/ops/system_packages.ts";

/** What the check prints and whether the tests may run. */
export interface DepsOutcome {
  ok: boolean;
  lines: string[];
}

/** Check, and install when allowed; every effect injected (exported for the tests). */
export async function ensureTestDeps(deps: {
  probe: PackageProbe;
  checkOnly: boolean;
  right: () => ReturnType<typeof installRight>;
  install: typeof installPackages;
}): Promise<DepsOutcome> {
  const missing = await missingPackages(packagesFor("tests"), deps.probe);
  if (missing.length === 0) return { ok: true, lines: [] };
  const names = missing.map((p) => p.name);
  const what = missing.map((p) => `${p.name} (${p.why})`).join(", ");
  const lines = [`test setup: missing system packages: ${what}`];
  const right = deps.checkOnly ? "none" : await deps.right();
  if (right === "none") {
    lines.push(
      `install them, then run the tests again:\n  ${installCommand(names)}`,
      "(this needs Debian or Ubuntu; elsewhere install the equivalents by hand)",
    );
    return { ok: false, lines };
  }
  lines.push(`installing with: ${installCommand(names, right)}`);
  const failure = await deps.install(names, right);
  if (failure !== null) {
    lines.push(`install failed (${failure}); run it yourself:\n  ${installCommand(names)}`);
    return { ok: false, lines };
  }
  const still = await missingPackages(missing, deps.probe);
  if (still.length > 0) {
    lines.push(`still missing after install: ${still.map((p) => p.name).join(", ")}`);
    return { ok: false, lines };
  }
  lines.push("test setup: system packages installed");
  return { ok: true, lines };
}

if (import.meta.main) {
  const checkOnly = Deno.args.includes("--check");
  const outcome = await ensureTestDeps({
    probe: systemProbe(),
    checkOnly,
    right: () => installRight(),
    install: installPackages,
  });
  for (const line of outcome.lines) console.error(line);
  Deno.exit(outcome.ok ? 0 : 1);
}
