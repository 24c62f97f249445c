/**
 * Content-addressed files under `<data>/artifact/ab/cd/<cid>` (PROTOCOL.md section 9), where
 * `cid` is the lowercase hex SHA-256 of the bytes. Every read re-checks the hash.
 * @module
 */
import { join } from "node:path";
import { isHex, sha256Hex } from "../protocol/mod.ts";
import { safetyCatch } from "../errors.ts";

/** True when `cid` is a well-formed content id (64 lowercase hex characters). */
export function isCid(cid: unknown): cid is string {
  return isHex(cid, 32);
}

/** Artifact files below one directory. */
export class ArtifactStore {
  readonly #dir: string;

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
  async get(cid: string): Promise<Uint8Array | undefined> {
    if (!isCid(cid)) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.#path(cid));
    } catch {
      return undefined;
    }
    // A file damaged on disk must never be served as if it were the content.
    return sha256Hex(bytes) === cid ? bytes : undefined;
  }

  /** True when a file for `cid` exists (its content is checked by {@link get}). */
  async has(cid: string): Promise<boolean> {
    if (!isCid(cid)) return false;
    try {
      return (await Deno.stat(this.#path(cid))).isFile;
    } catch {
      return false;
    }
  }

  #path(cid: string): string {
    return join(this.#dir, cid.slice(0, 2), cid.slice(2, 4), cid);
  }

  async #write(cid: string, bytes: Uint8Array): Promise<void> {
    if ((await this.get(cid)) !== undefined) return;
    const dest = this.#path(cid);
    const dir = join(this.#dir, cid.slice(0, 2), cid.slice(2, 4));
    await Deno.mkdir(dir, { recursive: true });
    // Write then rename in the same directory, so readers never see a partial file.
    const tmp = join(dir, `.${cid}.${crypto.randomUUID()}.tmp`);
    try {
      await Deno.writeFile(tmp, bytes);
      await Deno.rename(tmp, dest);
    } catch (err) {
      await Deno.remove(tmp).catch(safetyCatch);
      throw err;
    }
  }
}
