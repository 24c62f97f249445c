/**
 * A data dir as the Python node writes it (schema and rows by plain SQL, identity files, config)
 * is read by `status`, `frontier` and `graph` unchanged.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { vectors } from "../protocol/vectors.ts";
import { spore, withTemp } from "./helpers.ts";

const PYTHON_SCHEMA = `CREATE TABLE experiment (
  id TEXT PRIMARY KEY, parent TEXT, depth INTEGER NOT NULL, code_cid TEXT NOT NULL,
  diff TEXT NOT NULL, dataset_cid TEXT NOT NULL, prepare_cid TEXT NOT NULL,
  time_budget INTEGER NOT NULL, val_bpb REAL NOT NULL, peak_vram_mb REAL NOT NULL,
  num_steps INTEGER NOT NULL, num_params INTEGER NOT NULL, status TEXT NOT NULL,
  description TEXT NOT NULL, hypothesis TEXT NOT NULL, agent_model TEXT NOT NULL,
  gpu_model TEXT NOT NULL, cuda_version TEXT NOT NULL, torch_version TEXT NOT NULL,
  node_id TEXT NOT NULL, timestamp INTEGER NOT NULL, signature TEXT NOT NULL,
  version INTEGER DEFAULT 1, verified INTEGER DEFAULT 0)`;

const COLS = [
  "id",
  "parent",
  "depth",
  "code_cid",
  "diff",
  "dataset_cid",
  "prepare_cid",
  "time_budget",
  "val_bpb",
  "peak_vram_mb",
  "num_steps",
  "num_params",
  "status",
  "description",
  "hypothesis",
  "agent_model",
  "gpu_model",
  "cuda_version",
  "torch_version",
  "node_id",
  "timestamp",
  "signature",
  "version",
];

async function writePythonDataDir(dir: string): Promise<void> {
  const k = vectors.keys[0]!;
  await Deno.mkdir(`${dir}/identity`, { recursive: true });
  await Deno.writeTextFile(`${dir}/identity/private_key`, k.private_key_hex);
  await Deno.writeTextFile(`${dir}/identity/node_id`, k.node_id);
  await Deno.writeTextFile(
    `${dir}/config.toml`,
    `host = "0.0.0.0"\nport = 7470\ndata_dir = "${dir}"\npeer = []\n`,
  );
  await Deno.mkdir(`${dir}/db`);
  const db = new DatabaseSync(`${dir}/db/graph.sqlite`);
  db.exec(PYTHON_SCHEMA);
  const ins = db.prepare(
    `INSERT INTO experiment (${COLS.join(",")}) VALUES (${COLS.map(() => "?").join(",")})`,
  );
  for (const v of vectors.records) {
    const w = v.wire as unknown as Record<string, string | number | null>;
    ins.run(...COLS.map((c) => w[c]!));
  }
  db.close();
  const rep = new DatabaseSync(`${dir}/db/reputation.sqlite`);
  rep.exec(`CREATE TABLE reputation (node_id TEXT PRIMARY KEY, score REAL,
    experiments_published INTEGER, experiments_verified INTEGER, verifications_performed INTEGER,
    disputes_won INTEGER, disputes_lost INTEGER)`);
  rep.exec("CREATE TABLE reputation_event (event_id TEXT PRIMARY KEY, kind TEXT)");
  rep.prepare("INSERT INTO reputation VALUES (?, 12.5, 3, 2, 1, 0, 0)").run(k.node_id);
  rep.close();
}

/** Frontier by brute force over the vector records (PROTOCOL.md section 7). */
function expectedFrontier(): string[] {
  const recs = vectors.records.map((r) => r.wire);
  return recs
    .filter((r) => r.status === "keep")
    .filter((r) =>
      !recs.some((c) => c.parent === r.id && c.status === "keep" && c.val_bpb < r.val_bpb)
    )
    .sort((a, b) => a.val_bpb - b.val_bpb || (a.id < b.id ? -1 : 1))
    .map((r) => r.id);
}

Deno.test("status, frontier and graph read a Python node's data dir", async () => {
  await withTemp(async (dir) => {
    await writePythonDataDir(dir);
    const status = await spore("status", "--json", "--data-dir", dir);
    assert.equal(status.code, 0, status.err);
    const s = JSON.parse(status.out);
    assert.equal(s.node_id, vectors.keys[0]!.node_id);
    assert.equal(s.experiment_count, vectors.records.length);
    const front = expectedFrontier();
    assert.equal(s.frontier_size, front.length);
    assert.equal(s.reputation.score, 12.5);

    const fr = await spore("frontier", "--json", "--limit", "100", "--data-dir", dir);
    assert.equal(fr.code, 0, fr.err);
    const rows = JSON.parse(fr.out) as { id: string }[];
    assert.deepEqual(rows.map((r) => r.id), front);
    // Records come back exactly as signed (-0.0 included).
    for (const r of rows) {
      const v = vectors.records.find((x) => x.cid === r.id)!;
      assert.deepEqual(r, v.wire);
    }

    const gpu = JSON.parse(
      (await spore("frontier", "--json", "--gpu", "h100", "--data-dir", dir)).out,
    );
    assert.ok(gpu.length > 0 && gpu.every((r: { gpu_model: string }) => r.gpu_model === "H100"));

    const tree = await spore(
      "graph",
      "--json",
      "--depth",
      "1",
      "--limit",
      "100",
      "--data-dir",
      dir,
    );
    assert.equal(tree.code, 0, tree.err);
    const roots = JSON.parse(tree.out);
    assert.equal(roots.length, 1);
    assert.equal(roots[0].id, vectors.records[0]!.cid);
    const childCount = vectors.records.filter((r) =>
      r.wire.parent === vectors.records[0]!.cid
    ).length;
    assert.equal(roots[0].children.length, childCount);

    const text = await spore("graph", "--depth", "1", "--limit", "3", "--data-dir", dir);
    assert.equal(text.code, 0);
    assert.match(text.out, /^7b387f329278 keep/m);
    assert.match(text.out, new RegExp(`… ${childCount - 3} more`));
  });
});
