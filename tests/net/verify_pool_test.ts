import assert from "node:assert/strict";
import { validateRecord } from "../../src/protocol/mod.ts";
import { RecordVerifier } from "../../src/net/verify_pool.ts";
import { checkRecord } from "../../src/net/record_check.ts";
import { vectors } from "../protocol/vectors.ts";
import { makeRecords, vectorKey } from "./helpers.ts";

function cases(): unknown[] {
  const good = vectors.records[0]!.wire;
  return [
    ...vectors.records.map((v) => v.wire),
    ...vectors.invalid_records.map((v) => v.wire),
    { ...good, signature: "00".repeat(64) },
    { ...good, signature: "zz" },
    { ...good, node_id: "ab".repeat(32) },
    { ...good, val_bpb: "1" },
    null,
    "x",
    ...makeRecords(50, vectorKey(3), { tag: "vp" }),
  ];
}

for (const workers of [0, 2]) {
  Deno.test(`RecordVerifier(${workers}) gives exactly validateRecord's verdicts`, async () => {
    const v = new RecordVerifier(workers);
    try {
      const all = cases();
      const got = await Promise.all(all.map((c) => v.validate(c)));
      for (const [i, c] of all.entries()) {
        const want = await validateRecord(c);
        assert.equal(got[i]!.ok, want.ok, `case ${i}`);
        if (!got[i]!.ok && !want.ok) assert.equal(got[i]!.reason, want.reason, `case ${i}`);
      }
      assert.equal(got.filter((g) => g.ok).length, vectors.records.length + 50);
    } finally {
      v.close();
    }
    const after = await v.validate(vectors.records[0]!.wire);
    assert.ok(!after.ok && after.reason === "validator closed", "a closed verifier refuses");
  });
}

Deno.test("checkRecord (the worker's check) gives exactly validateRecord's verdicts", async () => {
  for (const [i, c] of cases().entries()) {
    const want = await validateRecord(c);
    assert.equal(checkRecord(c), want.ok ? null : want.reason, `case ${i}`);
  }
});

Deno.test("a worker that cannot load falls back to in-thread validation, not rejection", async () => {
  const v = new RecordVerifier(1, new URL("./broken_worker.ts", import.meta.url));
  try {
    const all = cases();
    const got = await Promise.all(all.map((c) => v.validate(c)));
    for (const [i, c] of all.entries()) assert.equal(got[i]!.ok, (await validateRecord(c)).ok);
    assert.equal(got.filter((g) => g.ok).length, vectors.records.length + 50);
  } finally {
    v.close();
  }
});
