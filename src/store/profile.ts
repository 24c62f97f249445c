/**
 * Node profiles in `<data>/db/profile.sqlite` (PROTOCOL.md sections 4, 9): the newest signed
 * profile per node. We add `seq` (sync cursor, renewed on every replacement) and `canonical`
 * (the signed payload, kept only when the text columns cannot reproduce it).
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import {
  canonicalProfile,
  checkProfileShape,
  type NodeProfile,
  type ProfilePayload,
} from "../protocol/mod.ts";
import { StoreError } from "./errors.ts";
import {
  columnsOf,
  inTransaction,
  isLossyText,
  MAX_PAGE,
  openStore,
  pageValue,
  SqliteStore,
} from "./sqlite.ts";

const DDL = `CREATE TABLE IF NOT EXISTS node_profile (node_id TEXT PRIMARY KEY, id TEXT,
  display_name TEXT, bio TEXT, website TEXT, avatar_url TEXT, donation_address TEXT,
  timestamp INTEGER, signature TEXT, schema_version INTEGER)`;

const TEXT_FIELDS = [
  "id",
  "node_id",
  "display_name",
  "bio",
  "website",
  "avatar_url",
  "donation_address",
  "signature",
] as const;

const COLUMNS = "node_id, id, display_name, bio, website, avatar_url, donation_address, " +
  "timestamp, signature, schema_version, canonical";

/** One profile with its local sequence number. */
export interface SeqProfile {
  seq: number;
  profile: NodeProfile;
}

/** The profile store's statements. */
const PROFILE_SQL = {
  current: "SELECT id, timestamp FROM node_profile WHERE node_id = ?",
  upsert: `INSERT INTO node_profile (${COLUMNS}, seq) VALUES ($node_id, $id, $display_name, $bio,
           $website, $avatar_url, $donation_address, $timestamp, $signature, $schema_version,
           $canonical, $seq)
         ON CONFLICT(node_id) DO UPDATE SET id = excluded.id, display_name = excluded.display_name,
           bio = excluded.bio, website = excluded.website, avatar_url = excluded.avatar_url,
           donation_address = excluded.donation_address, timestamp = excluded.timestamp,
           signature = excluded.signature, schema_version = excluded.schema_version,
           canonical = excluded.canonical, seq = excluded.seq`,
  get: `SELECT ${COLUMNS} FROM node_profile WHERE node_id = ?`,
  all: `SELECT ${COLUMNS} FROM node_profile ORDER BY node_id LIMIT ? OFFSET ?`,
  name: "SELECT display_name FROM node_profile WHERE node_id = ?",
  maxSeq: "SELECT COALESCE(MAX(seq), 0) AS m FROM node_profile",
  afterSeq: `SELECT seq, ${COLUMNS} FROM node_profile WHERE seq > ? ORDER BY seq LIMIT ?`,
};

/** Newest profile per node over one SQLite file. */
export class ProfileStore extends SqliteStore<typeof PROFILE_SQL> {
  private constructor(db: DatabaseSync) {
    super(db, PROFILE_SQL);
  }

  /**
   * Open or create the profile table at `path`; numbers rows another writer added.
   * @throws StoreError when the file is not a SQLite database (it is left unchanged).
   */
  static open(path: string): ProfileStore {
    return openStore(path, "the profile table", (db) => {
      inTransaction(db, () => {
        db.exec(DDL);
        const have = columnsOf(db, "node_profile");
        if (!have.has("seq")) db.exec("ALTER TABLE node_profile ADD COLUMN seq INTEGER");
        if (!have.has("canonical")) db.exec("ALTER TABLE node_profile ADD COLUMN canonical TEXT");
        db.exec("CREATE UNIQUE INDEX IF NOT EXISTS ix_ts_profile_seq ON node_profile(seq)");
        // Rows from a Python node have no seq yet: number them in their insertion order.
        const base = Number(
          db.prepare("SELECT COALESCE(MAX(seq), 0) AS m FROM node_profile")
            .get()?.m ?? 0,
        );
        db.prepare(
          `WITH n AS (SELECT rowid AS r, ROW_NUMBER() OVER (ORDER BY rowid) AS k
                      FROM node_profile WHERE seq IS NULL)
           UPDATE node_profile SET seq = ? + n.k FROM n WHERE node_profile.rowid = n.r`,
        ).run(base);
      });
      return new ProfileStore(db);
    });
  }

  /**
   * Keep `p` if it is newer (higher timestamp) than the stored profile of its node. Returns
   * true when stored; false for an older, equally old or identical profile.
   * @throws StoreError when `p` fails the profile shape check.
   */
  upsert(p: NodeProfile): boolean {
    const shape = checkProfileShape(p);
    if (!shape.ok) throw new StoreError(`refusing to store an invalid profile: ${shape.reason}`);
    return inTransaction(this.db, () => {
      const cur = this.sql.current.get(p.node_id);
      if (cur && (cur.id === p.id || Number(cur.timestamp) >= p.timestamp)) return false;
      const lossy = TEXT_FIELDS.some((f) => isLossyText(p[f]));
      this.sql.upsert.run({
        node_id: p.node_id,
        id: p.id,
        display_name: p.display_name,
        bio: p.bio,
        website: p.website,
        avatar_url: p.avatar_url,
        donation_address: p.donation_address,
        timestamp: p.timestamp,
        signature: p.signature,
        schema_version: p.schema_version,
        canonical: lossy ? canonicalProfile(p) : null,
        seq: Number(this.sql.maxSeq.get()?.m ?? 0) + 1,
      });
      return true;
    });
  }

  /** The node's stored profile, exactly as signed, or undefined. */
  get(nodeId: string): NodeProfile | undefined {
    const row = this.sql.get.get(nodeId);
    return row ? toProfile(row) : undefined;
  }

  /** All profiles ordered by node id, paged. */
  all(limit: number, offset = 0): NodeProfile[] {
    return this.sql.all
      .all(pageValue(limit, "limit", MAX_PAGE), pageValue(offset, "offset"))
      .map(toProfile);
  }

  /** Display names of the given nodes; nodes without a profile or with an empty name are absent. */
  displayNames(nodeIds: Iterable<string>): Map<string, string> {
    const out = new Map<string, string>();
    for (const id of nodeIds) {
      if (out.has(id)) continue;
      const name = this.sql.name.get(id)?.display_name;
      if (typeof name === "string" && name !== "") out.set(id, name);
    }
    return out;
  }

  /** Profiles stored or replaced after local sequence number `seq`, in that order. */
  afterSeq(seq: number, limit: number): SeqProfile[] {
    const from = Number.isFinite(seq) ? Math.max(0, Math.floor(seq)) : 0;
    return this.sql.afterSeq.all(from, pageValue(limit, "limit", MAX_PAGE)).map((row) => ({
      seq: Number(row.seq),
      profile: toProfile(row),
    }));
  }

  /** Highest local sequence number in use (0 when empty). */
  maxSeq(): number {
    return Number(this.sql.maxSeq.get()?.m ?? 0);
  }
}

function toProfile(row: Record<string, unknown>): NodeProfile {
  if (typeof row.canonical === "string") {
    const payload = JSON.parse(row.canonical) as ProfilePayload;
    return { id: String(row.id), ...payload, signature: String(row.signature) };
  }
  const text = (v: unknown) => (v === null || v === undefined ? "" : String(v));
  return {
    id: text(row.id),
    node_id: text(row.node_id),
    display_name: text(row.display_name),
    bio: text(row.bio),
    website: text(row.website),
    avatar_url: text(row.avatar_url),
    donation_address: text(row.donation_address),
    timestamp: Number(row.timestamp ?? 0),
    signature: text(row.signature),
    schema_version: Number(row.schema_version ?? 1),
  };
}
