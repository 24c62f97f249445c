/**
 * Runs every benchmark in scripts/bench/ as its own process (so one bench's memory and JIT state
 * do not skew the next) and prints their figures.
 *
 * Run: deno task bench [--quick] [name...]   e.g. `deno task bench protocol store`
 */
const dir = new URL("./bench/", import.meta.url);
const quick = Deno.args.includes("--quick");
const only = Deno.args.filter((a) => !a.startsWith("--"));
const names = [...Deno.readDirSync(dir)]
  .filter((e) => e.isFile && e.name.endsWith(".ts"))
  .map((e) => e.name.replace(/\.ts$/, ""))
  .filter((n) => only.length === 0 || only.includes(n))
  .sort();

let failed = 0;
for (const name of names) {
  console.log(`# ${name}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`${name}.ts`, dir).pathname, ...(quick ? ["--quick"] : [])],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    failed++;
    console.log(`# ${name} FAILED (exit ${code})`);
  }
}
Deno.exit(failed ? 1 : 0);
