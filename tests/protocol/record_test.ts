import assert from "node:assert/strict";
import {
  canonicalRecord,
  type ExperimentPayload,
  hexToBytes,
  keyPairFromSeed,
  recordId,
  signRecord,
  validateRecord,
} from "../../src/protocol/mod.ts";
import { reasonOf, vectors, vectorsPath } from "./vectors.ts";

function payloadOf(wire: object): ExperimentPayload {
  const { id: _id, signature: _sig, ...payload } = wire as Record<string, unknown>;
  return payload as unknown as ExperimentPayload;
}

function seedFor(nodeId: string): Uint8Array {
  const key = vectors.keys.find((k) => k.node_id === nodeId);
  if (!key) throw new Error(`no vector key for ${nodeId}`);
  return hexToBytes(key.seed_hex);
}

Deno.test("vector keys derive their node ids", () => {
  for (const k of vectors.keys) {
    assert.equal(keyPairFromSeed(hexToBytes(k.seed_hex)).nodeId, k.node_id);
  }
});

Deno.test("every vector record: canonical bytes, id and signature match Python", async () => {
  assert(vectors.records.length >= 20);
  for (const v of vectors.records) {
    const wire = v.wire;
    assert.equal(canonicalRecord(wire), v.canonical);
    assert.equal(recordId(wire), v.cid);
    assert.equal(wire.id, v.cid);
    const signed = signRecord(payloadOf(wire), seedFor(wire.node_id));
    assert.equal(signed.id, v.cid);
    assert.equal(signed.signature, v.signature);
    const result = await validateRecord(wire);
    assert(result.ok, reasonOf(result));
  }
});

/** Bodies exactly as a Python peer writes them: `json.dumps(record, sort_keys=True, indent=2)`. */
async function pythonBodies(): Promise<string[]> {
  const script = "import json,sys\n" +
    "recs = json.load(open(sys.argv[1]))['records']\n" +
    "print(json.dumps([json.dumps(r['wire'], sort_keys=True, indent=2) for r in recs]))";
  const out = await new Deno.Command("python3", { args: ["-c", script, vectorsPath] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("records parsed from Python's indent=2 bodies keep their canonical bytes", async () => {
  const bodies = await pythonBodies();
  assert.equal(bodies.length, vectors.records.length);
  for (const [i, v] of vectors.records.entries()) {
    const parsed = JSON.parse(bodies[i]!);
    assert.equal(canonicalRecord(parsed), v.canonical);
    assert((await validateRecord(parsed)).ok);
  }
});

Deno.test("every invalid vector record is rejected with its reason", async () => {
  const expected: Record<string, string> = {
    "payload changed after signing: cid mismatch": "cid mismatch",
    "bad signature": "bad signature",
    "signed by another key (cid recomputed)": "bad signature",
    "invalid status": "invalid status",
  };
  assert.equal(vectors.invalid_records.length, Object.keys(expected).length);
  for (const v of vectors.invalid_records) {
    const result = await validateRecord(v.wire);
    assert(!result.ok, `accepted: ${v.why}`);
    const reason = reasonOf(result);
    assert(reason.startsWith(expected[v.why]!), `${v.why}: got reason "${reason}"`);
  }
});

Deno.test("structurally wrong records are rejected with a reason naming the field", async () => {
  const good = vectors.records[0]!.wire;
  const cases: [Record<string, unknown>, string][] = [
    [{ ...good, val_bpb: "0.9" }, 'field "val_bpb"'],
    [{ ...good, depth: 1.5 }, 'field "depth"'],
    [{ ...good, extra: 1 }, 'unknown field "extra"'],
    [{ ...good, parent: 7 }, 'field "parent"'],
    [{ ...good, node_id: "zz" }, "node_id"],
  ];
  const { timestamp: _t, ...missing } = good;
  cases.push([missing, 'missing field "timestamp"']);
  // JSON.parse makes "__proto__" an own key: it is an unknown field, not an inherited one.
  cases.push([JSON.parse(JSON.stringify(good).replace("{", '{"__proto__":1,')), "__proto__"]);
  // A field found only on the prototype is missing: the record is what was received.
  const { diff, ...withoutDiff } = good;
  cases.push([Object.assign(Object.create({ diff }), withoutDiff), 'missing field "diff"']);
  for (const [raw, needle] of cases) {
    const r = await validateRecord(raw);
    assert(reasonOf(r).includes(needle), `${needle}: ${JSON.stringify(r)}`);
  }
  for (const junk of [null, 42, "x", [], { type: "experiment" }]) {
    assert(!(await validateRecord(junk)).ok);
  }
});

Deno.test("a tampered float changes the id", async () => {
  const wire = { ...vectors.records[0]!.wire, val_bpb: 0.5 };
  const r = await validateRecord(wire);
  assert.equal(reasonOf(r), "cid mismatch");
});
