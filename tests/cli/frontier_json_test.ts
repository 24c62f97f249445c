import assert from "node:assert/strict";
import { openStores } from "../../src/store/mod.ts";
import { makeRecords, vectorKey } from "../net/helpers.ts";
import { spore, withTemp } from "./helpers.ts";

Deno.test("spore frontier --json returns every row unless --limit is given", async () => {
  await withTemp(async (dir) => {
    const stores = openStores(dir);
    stores.graph.insertMany(makeRecords(300, vectorKey(0), { tag: "fj" }));
    const size = stores.graph.frontier().length;
    stores.close();
    assert.ok(size > 20, `a frontier larger than the human default (${size})`);
    const all = await spore("frontier", "--json", "--data-dir", dir);
    assert.equal(all.code, 0, all.err);
    assert.equal(JSON.parse(all.out).length, size);
    const five = await spore("frontier", "--json", "--limit", "5", "--data-dir", dir);
    assert.equal(JSON.parse(five.out).length, 5);
    const human = await spore("frontier", "--data-dir", dir);
    assert.equal(human.code, 0, human.err);
  });
});
