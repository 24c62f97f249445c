import assert from "node:assert/strict";
import { recordId } from "../../src/protocol/mod.ts";
import {
  COL,
  EXTRA,
  needsCanonical,
  RECORD_COLUMNS,
  signVariants,
} from "../../src/store/graph_rows.ts";
import { INSERT_COLUMNS } from "../../src/store/graph_schema.ts";
import { makeRecord, VECTOR_RECORDS } from "./helpers.ts";

Deno.test("graph rows: COL matches the column list", () => {
  const names = RECORD_COLUMNS.split(",").map((c) => c.trim());
  assert.equal(names.length, EXTRA);
  for (const [name, index] of Object.entries(COL)) assert.equal(names[index], name);
  assert.equal(names.at(-1), "canonical");
  assert.deepEqual(names.slice(0, -1).sort(), Object.keys(makeRecord()).sort());
});

Deno.test("graph schema: the insert fills the record's columns, then the ones we add", () => {
  const record = RECORD_COLUMNS.split(", ").slice(0, -1);
  assert.deepEqual(INSERT_COLUMNS, [...record, "seq", "frontier", "gpu_class", "canonical"]);
});

Deno.test("graph rows: only lossy records need their canonical payload", () => {
  assert.equal(needsCanonical(makeRecord()), false);
  assert.equal(needsCanonical(makeRecord({ val_bpb: 0 })), false);
  assert.equal(needsCanonical(makeRecord({ val_bpb: -0 })), true);
  assert.equal(needsCanonical(makeRecord({ description: "a\u0000b" })), true);
  assert.equal(needsCanonical(makeRecord({ hypothesis: "\udfff" })), true);
  assert.equal(needsCanonical(makeRecord({ description: "emoji 🧪 ok" })), false);
});

Deno.test("graph rows: a -0.0 record is recovered from its zero-valued columns", () => {
  const negZero = VECTOR_RECORDS.find((r) => Object.is(r.val_bpb, -0));
  assert.ok(negZero, "the vectors include a -0.0 record");
  const fromColumns = { ...negZero, val_bpb: 0 };
  assert.notEqual(recordId(fromColumns), negZero.id);
  const match = signVariants(fromColumns).filter((r) => recordId(r) === negZero.id);
  assert.equal(match.length, 1);
  assert.ok(Object.is(match[0]!.val_bpb, -0));
  assert.equal(signVariants(makeRecord({ val_bpb: 0.5 })).length, 1);
});
