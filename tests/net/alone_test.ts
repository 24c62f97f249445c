import assert from "node:assert/strict";
import { runNode } from "../../src/cli/run.ts";
import { AloneWatch } from "../../src/net/alone.ts";
import { waitFor } from "./helpers.ts";

Deno.test("alone: first warning after the wait, then at doubling intervals; reset by a peer", () => {
  const w = new AloneWatch(30_000);
  assert.equal(w.check(0, 0), undefined);
  assert.equal(w.check(29_999, 0), undefined);
  assert.equal(w.check(30_000, 0), 30_000);
  assert.equal(w.check(60_000, 0), undefined, "the next one waits twice as long");
  assert.equal(w.check(90_000, 0), 90_000);
  assert.equal(w.check(100_000, 1), undefined);
  assert.equal(w.check(110_000, 0), undefined, "alone again: the wait starts over");
  assert.equal(w.check(140_000, 0), 30_000);
});

Deno.test("spore run with unreachable peers says `no peers connected` with each dial error; status --json has them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spore-alone-" });
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  const unresolvable = "no-such-host.invalid:7470";
  const lines: string[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((r) => stop = r);
  const run = runNode(
    {
      train: false,
      port: 0,
      host: "127.0.0.1",
      dataDir: dir,
      explorer: false,
      peer: [unresolvable, closed],
    },
    // The default first warning is at 30 s; 2 s here keeps the test short, same code path.
    { stopped, print: (x) => lines.push(x), tty: false, aloneWarnMs: 2000 },
  );
  try {
    await waitFor(() => lines.some((x) => x.includes("gossip")), "banner", 30_000);
    const text = () => lines.join("\n");
    assert.match(text(), /peers\s+connecting to /, "not listed as if connected");
    await waitFor(() => /no peers connected/.test(text()), "the warning", 35_000);
    await waitFor(
      () => text().includes(`${closed}: connection refused`) && text().includes(unresolvable),
      "both errors named",
      15_000,
    );
    const at = lines.findIndex((x) => x.startsWith("no peers connected"));
    const warning = lines.slice(at).join("\n");
    assert.match(warning, new RegExp(`${unresolvable.replace(/\./g, "\\.")}: name lookup failed`));
    assert.match(warning, /spore connect HOST:PORT/);
    assert.match(warning, /--peer HOST:PORT/);

    // spore status --json, from another process, while the node runs.
    let net: { connected: number; dialing: string[]; last_errors: { address: string }[] } | null =
      null;
    await waitFor(
      () => {
        const out = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("../../main.ts", import.meta.url).pathname,
            "status",
            "--json",
            "--data-dir",
            dir,
          ],
          stdout: "piped",
          stderr: "null",
        }).outputSync();
        try {
          net = JSON.parse(new TextDecoder().decode(out.stdout)).network;
        } catch {
          net = null;
        }
        return (net?.last_errors.length ?? 0) >= 2;
      },
      "status --json with both errors",
      60_000,
    );
    const n = net!;
    assert.equal(n.connected, 0);
    const errs = n.last_errors as { address: string; error: string; at: string }[];
    assert.ok(errs.some((e) => e.address === closed && /refused/.test(e.error)));
    assert.ok(errs.some((e) => e.address === unresolvable && /name lookup/.test(e.error)));
    assert.ok(errs.every((e) => !Number.isNaN(Date.parse(e.at))));
  } finally {
    stop();
    await run;
    await Deno.remove(dir, { recursive: true });
  }
});
