/**
 * Permission profiles: deno.json's tasks use exactly the flags launch.ts defines, and a module
 * run under them is refused what lies outside (files, variables, programs).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  COMPILE_PERMISSIONS,
  expandPermissions,
  NODE_ENV_VARS,
  NODE_V8_FLAGS,
  permissionFlags,
  RUN_PERMISSIONS,
  selfCommand,
} from "../../src/ops/launch.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** The words of a deno.json task's command line. */
function taskWords(name: string): string[] {
  const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
  return String(config.tasks[name]).split(/\s+/);
}

/** The flags of a deno.json task between its `deno <sub>` and its first non-flag word. */
function taskFlags(name: string): string[] {
  const words = taskWords(name);
  assert.equal(words[0], "deno");
  const flags: string[] = [];
  for (const w of words.slice(2)) {
    if (!w.startsWith("--allow-")) break;
    flags.push(w);
  }
  return flags;
}

Deno.test("launch: deno task run and compile use the profiles' flags, none of them -A", () => {
  assert.deepEqual(taskFlags("run"), [...RUN_PERMISSIONS]);
  assert.deepEqual(taskFlags("compile"), [...COMPILE_PERMISSIONS]);
  // `deno task spore` runs every command (start, stop, train, doctor...) like the binary does.
  assert.deepEqual(taskFlags("spore"), [...COMPILE_PERMISSIONS]);
  for (const task of ["run", "compile"]) {
    assert.ok(taskWords(task).includes(NODE_V8_FLAGS), `${task} caps the node's heap`);
  }
  // deno compile runs its type check under the --v8-flags it embeds, and the check needs more
  // than the node's 128 MB heap (it died out of memory); `deno task check` type-checks instead.
  assert.ok(taskWords("compile").includes("--no-check"));
  for (const flags of [RUN_PERMISSIONS, COMPILE_PERMISSIONS]) {
    assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"));
    for (const kind of ["env", "sys", "run"]) {
      assert.ok(flags.some((f) => f.startsWith(`--allow-${kind}=`)), `${kind} is narrowed`);
    }
  }
});

Deno.test("launch: the compiled binary embeds every worker module the source starts", async () => {
  const compile = taskWords("compile");
  const included = new Set(compile.flatMap((w, i) => compile[i - 1] === "--include" ? [w] : []));
  const workers: string[] = [];
  for await (const file of walkTs(join(ROOT, "src"))) {
    const text = await Deno.readTextFile(file);
    // Worker modules are named next to the code that starts them: new URL("./x.ts", import.meta.url)
    for (const m of text.matchAll(/new URL\("\.\/([\w.]+\.ts)", import\.meta\.url\)/g)) {
      const path = join(file, "..", m[1]!).slice(ROOT.length + 1);
      if (/worker/.test(path)) workers.push(path);
    }
  }
  assert.ok(workers.includes("src/store/checkpoint_worker.ts"), workers.join(", "));
  for (const w of workers) assert.ok(included.has(w), `deno task compile lacks --include ${w}`);
});

/** Every .ts file under `dir`. */
async function* walkTs(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* walkTs(path);
    else if (e.name.endsWith(".ts")) yield path;
  }
}

Deno.test("launch: sync-only is the smallest profile; research adds only training needs", () => {
  const sync = permissionFlags("sync-only");
  const research = permissionFlags("research");
  assert.deepEqual(permissionFlags("verify-only"), research);
  assert.ok(!sync.some((f) => f.startsWith("--allow-run")));
  const list = (flags: string[], kind: string) =>
    (flags.find((f) => f.startsWith(`--allow-${kind}=`)) ?? "").split("=")[1]?.split(",") ?? [];
  for (const kind of ["read", "write", "env", "sys"]) {
    for (const item of list(sync, kind)) {
      assert.ok(list(research, kind).includes(item), `${kind} ${item} in research too`);
    }
  }
  assert.ok(list(sync, "read").length < list(research, "read").length);
});

Deno.test("launch: templates expand to the data dir actually used", () => {
  const flags = expandPermissions(
    [
      "--allow-read=./static,$HOME/.spore,$HOME/.cache,/tmp",
      "--allow-write=$HOME/.spore",
      "--allow-net",
    ],
    { home: "/home/u", dataDir: "/srv/spore", root: "/opt/spore" },
  );
  assert.deepEqual(flags, [
    "--allow-read=/opt/spore/static,/srv/spore,/home/u/.cache,/tmp",
    "--allow-write=/srv/spore",
    "--allow-net",
  ]);
  const self = selfCommand("/srv/spore", `file://${ROOT}/main.ts`);
  assert.equal(self.args[0], "run");
  assert.equal(self.args.at(-1), `${ROOT}/main.ts`);
  assert.ok(self.args.includes("--allow-write=/srv/spore,/tmp"));
  // A `spore start --workspace` child may also read the workspace and its data cache.
  const ws = selfCommand("/srv/spore", `file://${ROOT}/main.ts`, ["/w/ar", "/h/.cache/ar"]);
  const read = ws.args.find((a) => a.startsWith("--allow-read="))!;
  assert.ok(read.endsWith(",/w/ar,/h/.cache/ar"), read);
  assert.ok(!ws.args.some((a) => a.startsWith("--allow-write=") && a.includes("/w/ar")));
});

const PROBE = `
const tryIt = async (f) => { try { await f(); return "allowed"; } catch (e) { return e.name; } };
const [dataDir, outside, repoFile] = Deno.args;
console.log(JSON.stringify({
  readData: await tryIt(() => Deno.readTextFile(dataDir + "/config.toml")),
  writeData: await tryIt(() => Deno.writeTextFile(dataDir + "/x", "x")),
  readOutside: await tryIt(() => Deno.readTextFile(outside)),
  writeOutside: await tryIt(() => Deno.writeTextFile(outside + ".new", "x")),
  readRepo: await tryIt(() => Deno.readTextFile(repoFile)),
  readEtc: await tryIt(() => Deno.readTextFile("/etc/hostname")),
  env: await tryIt(() => Deno.env.get("AWS_SECRET_ACCESS_KEY")),
  envAll: await tryIt(() => Deno.env.toObject()),
  runShell: await tryIt(() => new Deno.Command("/bin/sh", { args: ["-c", "true"] }).output()),
  hostname: await tryIt(() => Deno.hostname()),
}));
`;

Deno.test("launch: a module under the node's profile cannot read outside its paths", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "spore-perm-" });
  try {
    const home = join(tmp, "home");
    const dataDir = join(home, ".spore");
    await Deno.mkdir(dataDir, { recursive: true });
    await Deno.writeTextFile(join(dataDir, "config.toml"), "port = 7470\n");
    const secret = join(home, "secret.txt"); // beside the data dir, in the user's home
    await Deno.writeTextFile(secret, "do not read");
    const script = join(dataDir, "probe.js");
    await Deno.writeTextFile(script, PROBE);
    const args = [dataDir, secret, join(ROOT, "deno.json")];

    const paths = { home, dataDir, root: ROOT };
    for (const mode of ["sync-only", "research"] as const) {
      const flags = expandPermissions(permissionFlags(mode), paths);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", ...flags, script, ...args],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const r = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.equal(r.readData, "allowed", mode);
      assert.equal(r.writeData, "allowed", mode);
      // A checkout under a granted directory (CI may clone into /tmp) is readable by design.
      const grantedRoots = flags.filter((f) => f.startsWith("--allow-read="))
        .flatMap((f) => f.slice("--allow-read=".length).split(","))
        .filter((p) => !p.startsWith(ROOT));
      if (!grantedRoots.some((p) => ROOT === p || ROOT.startsWith(p + "/"))) {
        assert.equal(
          r.readRepo,
          "NotCapable",
          `${mode}: repository files outside src/static/workspace`,
        );
      }
      assert.equal(r.readEtc, "NotCapable", mode);
      assert.equal(r.env, "NotCapable", mode);
      assert.equal(r.envAll, "NotCapable", mode);
      assert.equal(r.runShell, "NotCapable", mode);
      assert.equal(r.hostname, "NotCapable", mode);
      if (mode === "sync-only") {
        // Training modes are granted the temp dir this test lives in; sync-only is not, so
        // the secret beside its data dir is out of reach.
        assert.equal(r.readOutside, "NotCapable");
        assert.equal(r.writeOutside, "NotCapable");
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("launch: every variable the node reads by name is in the allowed list", async () => {
  // A variable read outside the list throws NotCapable under `deno task run`; this catches a
  // new `Deno.env.get("X")` (or a settings `env("X")`) that was not added to NODE_ENV_VARS.
  const read = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(path);
        for (const m of text.matchAll(/(?:Deno\.env\.get|\benv)\(\s*"([A-Z_][A-Z0-9_]*)"\s*\)/g)) {
          read.add(m[1]!);
        }
      }
    }
  };
  await walk(join(ROOT, "src"));
  assert.ok(read.has("SPORE_HOME") && read.has("SPORE_SPOT_CHECK_RATE"), [...read].join(","));
  const missing = [...read].filter((v) => !NODE_ENV_VARS.includes(v));
  assert.deepEqual(missing, [], "add these to NODE_ENV_VARS in src/ops/launch.ts");
});
