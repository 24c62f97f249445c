/** Naming and matching research classes (src/protocol/research_class.ts). */
import assert from "node:assert/strict";
import {
  classLabel,
  datasetCidProblem,
  inClass,
  matchesClassFilter,
  type NamedClass,
} from "../../src/protocol/mod.ts";

const P = "0123456789ab".padEnd(64, "f");
const HEX = "9".repeat(64);
const NAMED: NamedClass[] = [
  { name: "spore-synthetic", prepareCid: P, datasetCid: HEX },
  { name: "spore-embedded", prepareCid: P },
];

Deno.test("classLabel: named classes by name, others as dataset/short prepare", () => {
  assert.equal(classLabel({ datasetCid: HEX, prepareCid: P }, NAMED), "spore-synthetic");
  assert.equal(classLabel({ datasetCid: "8".repeat(64), prepareCid: P }, NAMED), "spore-embedded");
  assert.equal(
    classLabel({ datasetCid: "climbmix-400b-shuffle", prepareCid: "e".repeat(64) }),
    "climbmix-400b-shuffle/eeeeeeeeeeee",
  );
  assert.equal(
    classLabel({ datasetCid: HEX, prepareCid: "e".repeat(64) }),
    "999999999999/eeeeeeeeeeee",
  );
  // Hostile names cannot smuggle terminal escapes or unbounded text into a label.
  const hostile = classLabel({ datasetCid: "\x1b[31m" + "x".repeat(500), prepareCid: "" });
  assert.ok(!hostile.includes("\x1b") && hostile.length < 60, hostile);
});

Deno.test("matchesClassFilter: by name, dataset/prepare prefix, dataset, prepare prefix", () => {
  const climb = { datasetCid: "climbmix-400b-shuffle", prepareCid: "e".repeat(64) };
  const ours = { datasetCid: HEX, prepareCid: P };
  for (
    const f of [
      "climbmix-400b-shuffle/eeeeeeeeeeee",
      "climbmix-400b-shuffle",
      "eeeeeeee",
      "climbmix-400b-shuffle/ee",
    ]
  ) {
    assert.equal(matchesClassFilter(climb, f, NAMED), true, f);
    assert.equal(matchesClassFilter(ours, f, NAMED), false, f);
  }
  assert.equal(matchesClassFilter(ours, "spore-synthetic", NAMED), true);
  assert.equal(matchesClassFilter(climb, "spore-synthetic", NAMED), false);
  assert.equal(matchesClassFilter(climb, "eee", NAMED), false, "prepare prefixes need 8 chars");
  assert.equal(inClass({ dataset_cid: HEX, prepare_cid: P }, ours), true);
  assert.equal(inClass({ dataset_cid: HEX, prepare_cid: P }, climb), false);
});

Deno.test("datasetCidProblem bounds user-given dataset names", () => {
  assert.equal(datasetCidProblem("climbmix-400b-shuffle"), null);
  assert.match(datasetCidProblem("")!, /empty/);
  assert.match(datasetCidProblem("x".repeat(129))!, /limit/);
  assert.match(datasetCidProblem("a b")!, /printable/);
});
