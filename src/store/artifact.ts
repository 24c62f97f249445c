/**
 * Content-addressed files under `<data>/artifact/ab/cd/<cid>` (PROTOCOL.md section 9), where
 * `cid` is the lowercase hex SHA-256 of the bytes. Every read re-checks the hash.
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isHex, sha256Hex } from "../protocol/mod.ts";
import { safetyCatch } from "../errors.ts";

/** True when `cid` is a well-formed content id (64 lowercase hex characters). */
export function isCid(cid: unknown): cid is string {
  return isHex(cid, 32);
}

/**
 * Cids recently found absent, remembered at most (about 150 bytes each). A peer asking for code
 * nobody holds costs a failed file read, and Deno turns each into a thrown NotFound error: in a
 * 10-node mesh (scripts/bench/mesh.ts, code no one held) those failed reads, three per record
 * per node, took more of the first node's main thread than anything else.
 */
const ABSENT_MAX = 8192;
/**
 * How long "absent" is believed. This process writes through {@link ArtifactStore.put} and
 * forgets the entry at once; the bound covers another process writing into the same directory.
 */
const ABSENT_TTL_MS = 30_000;

/** Artifact files below one directory. */
export class ArtifactStore {
  readonly #dir: string;
  /** Cid -> when it was found absent (ms), oldest first. */
  readonly #absent = new Map<string, number>();

  /** @param dir the `artifact` directory; created on first write */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The directory holding the files. */
  get dir(): string {
    return this.#dir;
  }

  /** Store bytes; returns their cid. Writing the same bytes twice is a no-op. */
  async put(bytes: Uint8Array): Promise<string> {
    const cid = sha256Hex(bytes);
    await this.#write(cid, bytes);
    return cid;
  }

  /**
   * Store bytes received for `cid`; false (nothing written) when `cid` is malformed or is not
   * the hash of `bytes`.
   */
  async putVerified(cid: string, bytes: Uint8Array): Promise<boolean> {
    if (!isCid(cid) || sha256Hex(bytes) !== cid) return false;
    await this.#write(cid, bytes);
    return true;
  }

  /** The bytes of `cid`, or undefined when absent, unreadable or not matching their hash. */
  get(cid: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.#read(cid));
  }

  #read(cid: string, useCache = true): Uint8Array | undefined {
    if (!this.#onDisk(cid, useCache)) return undefined;
    let bytes: Uint8Array;
    try {
      // Synchronous on purpose: a code file is small, and an async read costs a hand-off to
      // Deno's blocking thread pool that, with one background prefetch per received record,
      // took a quarter of each node's main thread in a 10-node mesh (scripts/bench/mesh.ts).
      bytes = Deno.readFileSync(this.#path(cid));
    } catch {
      this.#noteAbsent(cid);
      return undefined;
    }
    // A file damaged on disk must never be served as if it were the content.
    return sha256Hex(bytes) === cid ? bytes : undefined;
  }

  /** True when a file for `cid` exists (its content is checked by {@link get}). */
  has(cid: string): Promise<boolean> {
    if (!this.#onDisk(cid)) return Promise.resolve(false);
    try {
      return Promise.resolve(Deno.statSync(this.#path(cid)).isFile); // synchronous: see #read
    } catch {
      this.#noteAbsent(cid);
      return Promise.resolve(false);
    }
  }

  /**
   * True when a file for a well-formed `cid` exists; a miss is remembered ({@link ABSENT_MAX}),
   * and believed while fresh unless `useCache` is false. A miss is the common case (the code of
   * a record just received): existsSync answers it in about 2.5 us, where a failed read throws
   * an error that costs about 13 us.
   */
  #onDisk(cid: string, useCache = true): boolean {
    if (!isCid(cid) || (useCache && this.#knownAbsent(cid))) return false;
    if (existsSync(this.#path(cid))) return true;
    this.#noteAbsent(cid);
    return false;
  }

  #knownAbsent(cid: string): boolean {
    const at = this.#absent.get(cid);
    if (at === undefined) return false;
    if (Date.now() - at < ABSENT_TTL_MS) return true;
    this.#absent.delete(cid);
    return false;
  }

  #noteAbsent(cid: string): void {
    this.#absent.delete(cid); // re-inserted at the young end
    this.#absent.set(cid, Date.now());
    if (this.#absent.size > ABSENT_MAX) this.#absent.delete(this.#absent.keys().next().value!);
  }

  #path(cid: string): string {
    return join(this.#dir, cid.slice(0, 2), cid.slice(2, 4), cid);
  }

  async #write(cid: string, bytes: Uint8Array): Promise<void> {
    if (this.#read(cid, false) !== undefined) return;
    this.#absent.delete(cid); // that read found it absent: about to change
    const dest = this.#path(cid);
    const dir = join(this.#dir, cid.slice(0, 2), cid.slice(2, 4));
    await Deno.mkdir(dir, { recursive: true });
    // Write then rename in the same directory, so readers never see a partial file.
    const tmp = join(dir, `.${cid}.${crypto.randomUUID()}.tmp`);
    try {
      await Deno.writeFile(tmp, bytes);
      await Deno.rename(tmp, dest);
      this.#absent.delete(cid); // a read that failed while this was writing
    } catch (err) {
      await Deno.remove(tmp).catch(safetyCatch);
      throw err;
    }
  }
}
