/**
 * Shared `node:sqlite` plumbing for the stores: opening a file safely, transactions, text that
 * SQLite cannot round-trip, and bounds for caller-supplied paging values.
 * @module
 */
import { DatabaseSync, type SQLOutputValue, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { StoreError } from "./errors.ts";
import { safetyCatch } from "../errors.ts";

/** WAL size that triggers an automatic checkpoint. */
const WAL_CHECKPOINT_BYTES = 40 * 1024 * 1024;

/** Largest page any list method returns, so one call cannot build an unbounded array. */
export const MAX_PAGE = 10_000;

/**
 * Open (creating if needed) a SQLite file in WAL mode. The file is read before anything is
 * written, so a file that is not a database (or is corrupt) raises a `StoreError` naming it and
 * is left byte-for-byte unchanged.
 */
export function openDatabase(path: string, cacheMiB = 8): DatabaseSync {
  if (path !== ":memory:") {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (err) {
      throw new StoreError(`cannot create the directory for ${path}: ${errText(err)}`, {
        cause: err,
      });
    }
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (err) {
    throw new StoreError(`cannot open ${path}: ${errText(err)}`, { cause: err });
  }
  try {
    // Reading the schema is the first page access: it fails on a non-database or corrupt header
    // before any pragma below could write to the file.
    const tables = Number(db.prepare("SELECT count(*) AS n FROM sqlite_master").get()?.n ?? 0);
    // A fresh file gets 8 KiB pages (before WAL fixes the size). Rows of about 1 KiB with six
    // indexes, two of them on random content hashes: 8 KiB inserts as fast as 16 KiB up to 100k
    // rows and 15-20% faster beyond (each random insert rewrites a whole leaf page at commit),
    // and 4 KiB is slower below 200k (scripts/bench/store.ts). Existing files keep theirs.
    if (tables === 0) db.exec("PRAGMA page_size = 8192");
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA journal_mode = WAL");
    // NORMAL is durable against process crashes in WAL mode and much faster than FULL.
    db.exec("PRAGMA synchronous = NORMAL");
    // Page cache, allocated on demand. The graph takes more (random content-hash keys touch
    // pages all over its indexes); the small stores keep the node's resident memory low.
    db.exec(`PRAGMA cache_size = ${-Math.round(cacheMiB * 1024)}`);
    // Checkpoint every ~40 MiB of WAL instead of SQLite's 1,000 pages: fewer fsyncs during bulk
    // sync, and the file is cut back to 64 MiB afterwards. The setting counts pages, whose size
    // differs between files we created (8 KiB; 16 KiB before) and Python-written ones (4 KiB).
    const pageSize = Number(db.prepare("PRAGMA page_size").get()?.page_size ?? 4096);
    db.exec(
      `PRAGMA wal_autocheckpoint = ${Math.max(1000, Math.round(WAL_CHECKPOINT_BYTES / pageSize))}`,
    );
    db.exec("PRAGMA journal_size_limit = 67108864");
  } catch (err) {
    try {
      db.close();
    } catch (e) {
      safetyCatch(e); // already unusable
    }
    throw new StoreError(
      `${path} is not a usable SQLite database (${errText(err)}). ` +
        `It was left untouched: move it aside (or restore a backup) and start again to create a new one.`,
      { cause: err },
    );
  }
  return db;
}

/** Run `fn` inside one write transaction; rolls back and rethrows on any error. */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  // IMMEDIATE takes the write lock up front, so a read-then-write inside fn cannot race another
  // connection (e.g. the CLI) into SQLITE_BUSY halfway through.
  db.exec("BEGIN IMMEDIATE");
  try {
    const out = fn();
    db.exec("COMMIT");
    return out;
  } catch (err) {
    try {
      db.exec("ROLLBACK");
    } catch (e) {
      safetyCatch(e); // the transaction may already be gone
    }
    throw err;
  }
}

/** Prepared statements named by the keys of their SQL map, so a misspelt name fails `deno check`. */
export type Statements<T extends Readonly<Record<string, string>>> = {
  readonly [K in keyof T]: StatementSync;
};

/** Prepare every statement of `sql` (name to SQL text) on `db`. */
export function prepareAll<T extends Readonly<Record<string, string>>>(
  db: DatabaseSync,
  sql: T,
): Statements<T> {
  const out: Partial<Record<keyof T, StatementSync>> = {};
  for (const [name, text] of Object.entries(sql)) out[name as keyof T] = db.prepare(text);
  return out as Statements<T>;
}

/**
 * Column `key` of a result row (an object row, or an array row by position). A missing one means
 * the statement does not select that column: a bug, hence a RangeError rather than a NULL.
 */
export function cell(
  row: Readonly<Record<string, SQLOutputValue>> | readonly SQLOutputValue[],
  key: string | number,
): SQLOutputValue {
  const v = (row as Readonly<Record<string | number, SQLOutputValue>>)[key];
  if (v === undefined) throw new RangeError(`result row has no column ${JSON.stringify(key)}`);
  return v;
}

/** Names of the columns of `table` (empty when the table does not exist). */
export function columnsOf(db: DatabaseSync, table: string): Set<string> {
  const rows = db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table);
  return new Set(rows.map((r) => String(r.name)));
}

/**
 * True when SQLite text storage would not give `s` back unchanged: `node:sqlite` cuts text at
 * a NUL on read, and lone UTF-16 surrogates are replaced by U+FFFD when encoded as UTF-8.
 */
export function isLossyText(s: string): boolean {
  return s.includes("\u0000") || !s.isWellFormed();
}

/** Validate a caller-supplied page size or offset: a non-negative integer, capped at `max`. */
export function pageValue(v: number, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new StoreError(`${what} must be a non-negative integer, got ${String(v)}`);
  }
  return Math.min(v, max);
}

/** Message of an unknown thrown value. */
export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A store over one SQLite file: its connection, its statements prepared by name from the store's
 * SQL map, and the one way to close it.
 */
export abstract class SqliteStore<T extends Readonly<Record<string, string>>> {
  protected readonly db: DatabaseSync;
  protected readonly sql: Statements<T>;

  protected constructor(db: DatabaseSync, sql: T) {
    this.db = db;
    this.sql = prepareAll(db, sql);
  }

  /** Close the database; the store must not be used afterwards. Idempotent. */
  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}

/**
 * {@link openStore} for a store whose schema is a list of DDL statements, run in one
 * transaction before the store is built.
 */
export function openWithSchema<T>(
  path: string,
  what: string,
  ddl: readonly string[],
  build: (db: DatabaseSync) => T,
): T {
  return openStore(path, what, (db) => {
    inTransaction(db, () => {
      for (const sql of ddl) db.exec(sql);
    });
    return build(db);
  });
}

/**
 * Open `path`, prepare its schema and build the store over it. The database is closed again
 * when any step fails, and the failure becomes a {@link StoreError} naming `what` and the file.
 */
export function openStore<T>(
  path: string,
  what: string,
  prepare: (db: DatabaseSync) => T,
  cacheMiB?: number,
): T {
  const db = openDatabase(path, cacheMiB);
  try {
    return prepare(db);
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    throw new StoreError(`cannot prepare ${what} in ${path}: ${errText(err)}`, { cause: err });
  }
}
