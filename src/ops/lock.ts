/**
 * One node per data dir. The lock is an SQLite database held in exclusive locking mode: the
 * kernel drops it when the process dies (even on kill -9), a second node fails at once instead
 * of blocking, and it works the same inside one process (tests). `<data>/spore.pid` names the
 * holder for `spore stop`.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { dataPaths } from "../config.ts";
import { UserError } from "../errors.ts";
import { safetyCatch } from "../errors.ts";

/** Thrown when another node holds the data dir (user-facing: the message says what to do). */
export class DataDirLockedError extends UserError {}

/** A held data-dir lock. */
export interface DataDirLock {
  readonly pidFile: string;
  release(): void;
}

/** Pid recorded in the pid file, if any. */
export function readPid(dataDir: string): number | undefined {
  try {
    const pid = Number(Deno.readTextFileSync(dataPaths(dataDir).pid).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Take the data dir for this process, replacing a stale pid file.
 * @throws {DataDirLockedError} when a live node holds the lock.
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  Deno.mkdirSync(dataDir, { recursive: true });
  const db = new DatabaseSync(dataPaths(dataDir).lock);
  try {
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    db.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER)");
    db.exec(`DELETE FROM holder; INSERT INTO holder VALUES (${Deno.pid})`);
  } catch (e) {
    db.close();
    if (/locked|busy/i.test(String(e))) {
      const pid = readPid(dataDir);
      throw new DataDirLockedError(
        `a node is already running on ${dataDir}${pid ? ` (pid ${pid})` : ""}. ` +
          `Stop it with \`spore stop --data-dir ${dataDir}\`, or use another --data-dir.`,
      );
    }
    throw e;
  }
  const pidFile = dataPaths(dataDir).pid;
  Deno.writeTextFileSync(pidFile, `${Deno.pid}\n`);
  return {
    pidFile,
    release() {
      try {
        if (readPid(dataDir) === Deno.pid) Deno.removeSync(pidFile);
      } catch (e) {
        safetyCatch(e);
        // already gone
      }
      db.close();
    },
  };
}

/** True when a live node holds the data dir's lock (probe without keeping it). */
export function isDataDirLocked(dataDir: string): boolean {
  try {
    acquireDataDirLock(dataDir).release();
    return false;
  } catch (e) {
    if (e instanceof DataDirLockedError) return true;
    throw e;
  }
}
