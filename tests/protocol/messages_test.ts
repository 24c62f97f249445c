import assert from "node:assert/strict";
import {
  envelope,
  envelopeRaw,
  MAX_RECORD_IDS,
  parseMessage,
  recordJson,
} from "../../src/protocol/mod.ts";
import { vectors } from "./vectors.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("parseMessage accepts every message type of PROTOCOL.md section 6", () => {
  const ok = [
    envelope("ping", {}),
    envelope("pong", {}),
    envelope("pex_request", {}),
    envelope("pex_response", { peer: ["127.0.0.1:7470", 5] }),
    envelope("sync_request", { since: 0 }),
    envelope("code_request", { code_cid: "ab" }),
    envelope("code_response", { code_cid: "ab", code: "aGk=" }),
    envelope("profile", vectors.profiles[0]!.wire),
    envelopeRaw("experiment", recordJson(vectors.records[0]!.wire)),
    envelope("challenge", {
      event_id: "challenge:e:c",
      experiment_id: "e",
      challenger_id: "c",
      challenger_bpb: 0.9,
      challenger_gpu: "CPU",
    }),
    envelope("hello", {
      node_id: "a".repeat(64),
      listen_port: 7470,
      agent: "spore-ts",
      features: ["seq-sync"],
      db_epoch: "x",
    }),
  ];
  for (const body of ok) {
    const r = parseMessage(enc(body));
    assert.ok(r.ok, `${body.slice(0, 60)}: ${r.ok ? "" : r.reason}`);
  }
  const pex = parseMessage(enc(envelope("pex_response", { peer: ["a:1", 5, null] })));
  assert.ok(pex.ok && pex.value.type === "pex_response");
  assert.deepEqual(pex.ok && pex.value.payload, { peer: ["a:1"] });
});

Deno.test("parseMessage rejects hostile bodies with a reason and never throws", () => {
  const cases: [Uint8Array, string][] = [
    [new Uint8Array([0xff, 0xfe, 0x7b]), "invalid UTF-8"],
    [enc("{not json"), "invalid JSON"],
    [enc("[1,2]"), "not a JSON object"],
    [enc('"str"'), "not a JSON object"],
    [enc('{"payload":{}}'), "no string type"],
    [enc(envelope("sync_request", { since: "yesterday" })), "since"],
    [enc(envelope("experiment", [1])), "object"],
    [enc(envelope("challenge", { event_id: 1 })), "challenge"],
    [
      enc(envelope("dispute", {
        event_id: "d",
        experiment_id: "e",
        original_node_id: "o",
        challenger_id: "c",
        challenger_bpb: 1,
        outcome: "maybe",
        ground_truth_bpb: 1,
        verifier_count: 1,
      })),
      "outcome",
    ],
    [enc(envelope("hello", { node_id: "x", listen_port: 1, agent: "", db_epoch: "" })), "node_id"],
  ];
  for (const [body, needle] of cases) {
    const r = parseMessage(body);
    assert.ok(!r.ok && r.reason.includes(needle), `${needle}: ${JSON.stringify(r)}`);
  }
});

Deno.test("unknown message types are tolerated", () => {
  const r = parseMessage(enc(envelope("future_thing", { a: 1 })));
  assert.ok(r.ok && r.value.type === "unknown");
});

Deno.test("recordJson keeps -0.0 so the id survives the wire", () => {
  const v = vectors.records.find((r) => Object.is(r.wire.val_bpb, -0))!;
  const r = parseMessage(enc(envelopeRaw("experiment", recordJson(v.wire))));
  assert.ok(r.ok && r.value.type === "experiment");
  assert.ok(Object.is((r.value.payload as { val_bpb: number }).val_bpb, -0));
});

Deno.test("sync_seq and sync_mark (extension) parse to exact cursors and reject bad ones", () => {
  const cursors = { db_epoch: "e1", records: 10, profiles: 2, control: 0 };
  const seq = parseMessage(enc(envelope("sync_seq", { ...cursors, extra: 1 })));
  assert.ok(seq.ok);
  assert.deepEqual(seq.value, { type: "sync_seq", payload: cursors });
  const mark = parseMessage(enc(envelope("sync_mark", { ...cursors, done: true })));
  assert.ok(mark.ok);
  assert.deepEqual(mark.value, { type: "sync_mark", payload: { ...cursors, done: true } });
  const bad: [unknown, string][] = [
    [{ ...cursors, records: -1 }, "records must not be negative"],
    [{ ...cursors, records: 1.5 }, 'field "records"'],
    [{ ...cursors, db_epoch: "x".repeat(200) }, "db_epoch too long"],
    [{ records: 1, profiles: 1, control: 1 }, 'missing field "db_epoch"'],
  ];
  for (const [payload, why] of bad) {
    const r = parseMessage(enc(envelope("sync_seq", payload)));
    assert.ok(!r.ok && r.reason.includes(why), r.ok ? "accepted" : r.reason);
  }
  const noDone = parseMessage(enc(envelope("sync_mark", cursors)));
  assert.ok(!noDone.ok && noDone.reason.includes('"done"'));
});

Deno.test("announce and get_records carry 1 to MAX_RECORD_IDS lowercase hex record ids", () => {
  const id = "ab".repeat(32);
  for (const type of ["announce", "get_records"]) {
    const ok = parseMessage(enc(envelope(type, { ids: [id, id] })));
    assert.ok(ok.ok);
    assert.deepEqual(ok.value, { type, payload: { ids: [id, id] } });
    for (
      const payload of [
        {},
        { ids: [] },
        { ids: "x" },
        { ids: [id.toUpperCase()] },
        { ids: [id.slice(1)] },
        { ids: [5] },
        { ids: Array(MAX_RECORD_IDS + 1).fill(id) },
      ]
    ) {
      const r = parseMessage(enc(envelope(type, payload)));
      assert.equal(r.ok, false, JSON.stringify(payload).slice(0, 80));
    }
  }
});
