/**
 * Schema of `graph.sqlite`: the Python node's `experiment` table, the columns and indexes we add
 * to it, and the idempotent migration between the two.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { StoreError } from "./errors.ts";
import { RECORD_COLUMN_NAMES } from "./graph_rows.ts";
import { columnsOf, inTransaction } from "./sqlite.ts";
import { normalizeGpuClass } from "../protocol/mod.ts";

/**
 * Version of the GPU class rules `gpu_class` was computed with. 2: exactly the Python node's
 * (no `NVIDIA_` prefix stripped); databases written under 1 are reclassified once on open.
 */
export const GPU_CLASS_RULES = 2;

/** The Python node's table, for creating a fresh database (PROTOCOL.md section 9). */
export const PYTHON_EXPERIMENT_DDL = `CREATE TABLE IF NOT EXISTS experiment (
  id TEXT PRIMARY KEY, parent TEXT, depth INTEGER NOT NULL, code_cid TEXT NOT NULL,
  diff TEXT NOT NULL, dataset_cid TEXT NOT NULL, prepare_cid TEXT NOT NULL,
  time_budget INTEGER NOT NULL, val_bpb REAL NOT NULL, peak_vram_mb REAL NOT NULL,
  num_steps INTEGER NOT NULL, num_params INTEGER NOT NULL, status TEXT NOT NULL,
  description TEXT NOT NULL, hypothesis TEXT NOT NULL, agent_model TEXT NOT NULL,
  gpu_model TEXT NOT NULL, cuda_version TEXT NOT NULL, torch_version TEXT NOT NULL,
  node_id TEXT NOT NULL, timestamp INTEGER NOT NULL, signature TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1, verified INTEGER NOT NULL DEFAULT 0)`;

/** Columns we add to the Python table, with their DDL. */
const ADDED_COLUMNS: readonly [string, string][] = [
  ["seq", "seq INTEGER"],
  ["frontier", "frontier INTEGER NOT NULL DEFAULT 0"],
  ["gpu_class", "gpu_class TEXT"],
  ["canonical", "canonical TEXT"],
];

/**
 * Columns an insert fills, in binding order: the record's own columns, then ours (which end
 * with `canonical`). The Python node's `verified` keeps its default.
 */
export const INSERT_COLUMNS: readonly string[] = [
  ...RECORD_COLUMN_NAMES.filter((c) => c !== "canonical"),
  ...ADDED_COLUMNS.map(([name]) => name),
];

/**
 * Index key of `parent`: its first 16 hex digits. Parents are random content hashes, so each
 * insert batch rewrites most leaf pages of this index at commit; a quarter of the full 64-digit
 * key makes the index about 3 times smaller and inserts 10-20% faster. A lookup matches the key
 * and then `parent` itself, so a shared prefix only costs a row read: a record naming a parent
 * that merely shares the prefix is no cheaper to publish than a true child.
 */
export const PARENT_KEY = "substr(parent, 1, 16)";

/** {@link PARENT_KEY} of the first bound parameter, for lookups written `... = ?1`. */
export const PARENT_KEY_OF_PARAM = "substr(?1, 1, 16)";

const INDEXES = [
  "CREATE UNIQUE INDEX IF NOT EXISTS ix_ts_experiment_seq ON experiment(seq)",
  `CREATE INDEX IF NOT EXISTS ix_ts_experiment_parent_key ON experiment(${PARENT_KEY})`,
  // Secondary indexes carry the rowid, so (timestamp) alone orders ties by rowid: a small index.
  "CREATE INDEX IF NOT EXISTS ix_ts_experiment_time ON experiment(timestamp)",
  "CREATE INDEX IF NOT EXISTS ix_ts_experiment_node ON experiment(node_id, timestamp)",
  "CREATE INDEX IF NOT EXISTS ix_ts_experiment_frontier ON experiment(val_bpb, id) WHERE frontier = 1",
  "CREATE INDEX IF NOT EXISTS ix_ts_experiment_frontier_class " +
  "ON experiment(gpu_class, val_bpb, id) WHERE frontier = 1",
];

/** Create or upgrade the schema. Idempotent; only adds columns and indexes. */
export function migrate(db: DatabaseSync, path: string): void {
  inTransaction(db, () => {
    db.exec(PYTHON_EXPERIMENT_DDL);
    const have = columnsOf(db, "experiment");
    for (const required of ["id", "parent", "val_bpb", "status", "gpu_model", "timestamp"]) {
      if (!have.has(required)) {
        throw new StoreError(
          `${path}: table "experiment" has no column "${required}"; this is not a Spore graph ` +
            `database. Move it aside to let a new one be created.`,
        );
      }
    }
    for (const [name, ddl] of ADDED_COLUMNS) {
      if (!have.has(name)) db.exec(`ALTER TABLE experiment ADD COLUMN ${ddl}`);
    }
    for (const sql of INDEXES) db.exec(sql);
    // Our full-key parent index from before PARENT_KEY (never the Python node's own indexes).
    db.exec("DROP INDEX IF EXISTS ix_ts_experiment_parent");
    const hadNodes = db.prepare(
      "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'graph_node'",
    ).get();
    if (!hadNodes) {
      // Distinct publishers, kept so stats() need not scan a million rows.
      db.exec("CREATE TABLE graph_node (node_id TEXT PRIMARY KEY) WITHOUT ROWID");
      db.exec("INSERT OR IGNORE INTO graph_node (node_id) SELECT DISTINCT node_id FROM experiment");
    }
    reclassifyGpus(db);
  });
}

/** Recompute `gpu_class` once after the class rules changed (one scan, then a marker row). */
function reclassifyGpus(db: DatabaseSync): void {
  db.exec("CREATE TABLE IF NOT EXISTS ts_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  const row = db.prepare("SELECT value FROM ts_meta WHERE key = 'gpu_class_rules'").get();
  if (row && Number(row.value) === GPU_CLASS_RULES) return;
  const set = db.prepare(
    "UPDATE experiment SET gpu_class = ? WHERE gpu_model = ? AND gpu_class IS NOT NULL",
  );
  for (const r of db.prepare("SELECT DISTINCT gpu_model FROM experiment").all()) {
    const model = String(r.gpu_model);
    set.run(normalizeGpuClass(model), model);
  }
  db.prepare("INSERT OR REPLACE INTO ts_meta (key, value) VALUES ('gpu_class_rules', ?)")
    .run(String(GPU_CLASS_RULES));
}
