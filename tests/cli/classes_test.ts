/** `spore status` and `spore frontier` group records by research class and filter by `--class`. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openStores } from "../../src/store/mod.ts";
import { embeddedClasses, SYNTHETIC_DATASET_CID } from "../../src/training/research_workspace.ts";
import { makeRecord } from "../store/helpers.ts";
import { spore, withTemp } from "./helpers.ts";

Deno.test("status and frontier show records by class; --class keeps one", async () => {
  await withTemp(async (dir) => {
    assert.equal((await spore("init", "--data-dir", dir)).code, 0);
    const ours = (await embeddedClasses())[0]!;
    const climbPrepare = "ab".repeat(32);
    const climb = [0.99, 0.97].map((v) => makeRecord({ val_bpb: v, gpu_model: "H100" }));
    const mine = makeRecord({
      val_bpb: 2.2,
      gpu_model: "CPU",
      dataset_cid: SYNTHETIC_DATASET_CID,
      prepare_cid: ours.prepareCid,
    });
    const stores = openStores(dir);
    stores.graph.insertMany([...climb, mine]);
    stores.close();

    const status = JSON.parse((await spore("status", "--json", "--data-dir", dir)).out);
    assert.deepEqual(
      status.classes.map((c: Record<string, unknown>) => [c.name, c.experiment_count]),
      [[`climbmix-400b-shuffle/${climbPrepare.slice(0, 12)}`, 2], ["spore-synthetic", 1]],
    );
    const plain = await spore("status", "--data-dir", dir);
    assert.match(plain.out, /research classes[\s\S]*spore-synthetic\s+1\s+1\s+2\.2/);

    const only = JSON.parse(
      (await spore("status", "--json", "--class", "spore-synthetic", "--data-dir", dir)).out,
    );
    assert.equal(only.classes.length, 1);
    assert.equal(only.best_id, mine.id);
    assert.deepEqual(only.recent.map((r: { id: string }) => r.id), [mine.id]);

    const all = await spore("frontier", "--data-dir", dir);
    assert.equal(all.code, 0, all.err);
    const [climbAt, oursAt] = [
      all.out.indexOf("climbmix-400b-shuffle/"),
      all.out.indexOf("spore-synthetic"),
    ];
    assert.ok(climbAt >= 0 && oursAt > climbAt, all.out);
    const json = JSON.parse(
      (await spore("frontier", "--json", "--class", "climbmix-400b-shuffle", "--data-dir", dir))
        .out,
    );
    assert.deepEqual(json.map((r: { id: string }) => r.id), [climb[1]!.id, climb[0]!.id]);
    const none = await spore("frontier", "--class", "nope/1234", "--data-dir", join(dir));
    assert.match(none.out, /No frontier experiments for research class nope\/1234/);
  });
});
