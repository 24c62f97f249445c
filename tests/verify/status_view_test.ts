/** `spore status` shows a data dir's verification state, in text and in `--json`. */
import assert from "node:assert/strict";
import { Bus, key, makeRecord } from "./helpers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function status(dir: string, json: boolean): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "status", ...(json ? ["--json"] : []), "--data-dir", dir],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("spore status lists the verified count, open challenges and dispute outcomes", async () => {
  const bus = await Bus.create();
  try {
    const nodes = [];
    for (let i = 0; i < 4; i++) {
      nodes.push(await bus.addNode(i, { spotCheckRate: i === 1 ? 1 : 0 }));
    }
    for (let i = 0; i < 4; i++) bus.publish(makeRecord(key(i)), true);
    bus.publish(makeRecord(key(0)));
    const cheat = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(cheat);
    await bus.settle();
    // A second cheat whose answers stall: its challenge stays open.
    nodes[2]!.trainer.stall = true;
    nodes[3]!.trainer.stall = true;
    const open = makeRecord(key(0), { claimOffset: -0.05 });
    bus.publish(open);
    await bus.settle([nodes[2]!, nodes[3]!]);
    const dir = nodes[3]!.dir;
    await nodes[3]!.stop(); // its rerun stalls: stop it so the status reads a quiet data dir

    const text = await status(dir, false);
    assert.match(
      text,
      /verification\s+1 verified · 1 open challenges · 1 answers owed · 0 refused/,
    );
    assert.match(text, new RegExp(`open challenges\\n\\s+${open.record.id.slice(0, 8)}`));
    assert.match(
      text,
      new RegExp(`recent disputes\\n\\s+${cheat.record.id.slice(0, 8)}\\S*\\s+rejected`),
    );

    const json = JSON.parse(await status(dir, true));
    assert.equal(json.verification.verified_experiments, 1);
    assert.deepEqual(
      json.verification.open_challenges.map((c: { experiment_id: string }) => c.experiment_id),
      [open.record.id],
    );
    assert.equal(json.verification.recent_disputes[0].outcome, "rejected");
    assert.equal(json.verification.recent_disputes[0].verifier_count, 2);
  } finally {
    await bus.close();
  }
});
