/**
 * The workspace's `train.py` follows the research: after every keep it holds the best kept code
 * of this node's branch, so the file README calls "yours" is the one worth having. The version it
 * replaces is kept in the data dir (newest {@link KEEP_VERSIONS}), so nothing the user had is
 * lost, including edits they made by hand.
 * @module
 */
import { join } from "node:path";
import { atomicWrite } from "../config.ts";
import { sha256Hex, shortId } from "../protocol/mod.ts";

/** Earlier versions of train.py kept in the history dir; older ones are deleted. */
export const KEEP_VERSIONS = 50;

/** Writes kept code into the workspace, archiving what was there. */
export class WorkspaceBestCode {
  readonly #file: string;
  readonly #history: string;
  readonly #now: () => Date;

  constructor(workspaceDir: string, historyDir: string, now: () => Date = () => new Date()) {
    this.#file = join(workspaceDir, "train.py");
    this.#history = historyDir;
    this.#now = now;
  }

  /**
   * Make `code` (the kept experiment `recordId`'s) the workspace's train.py. Returns the path
   * the previous version was archived to, or undefined when there was nothing to archive.
   */
  async keep(recordId: string, code: string): Promise<string | undefined> {
    let previous: string | undefined;
    try {
      previous = await Deno.readTextFile(this.#file);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (previous === code) return undefined;
    let archived: string | undefined;
    if (previous !== undefined) {
      await Deno.mkdir(this.#history, { recursive: true });
      // Sortable by time; the hash names the content, the id the keep that replaced it.
      const stamp = this.#now().toISOString().replace(/[:.]/g, "-");
      archived = join(
        this.#history,
        `${stamp}-train-${shortId(sha256Hex(previous))}-before-${shortId(recordId)}.py`,
      );
      await atomicWrite(archived, previous);
      await this.#prune();
    }
    await atomicWrite(this.#file, code);
    return archived;
  }

  async #prune(): Promise<void> {
    const names: string[] = [];
    for await (const e of Deno.readDir(this.#history)) {
      if (e.isFile && e.name.endsWith(".py")) names.push(e.name);
    }
    names.sort();
    for (const name of names.slice(0, Math.max(0, names.length - KEEP_VERSIONS))) {
      await Deno.remove(join(this.#history, name));
    }
  }
}
