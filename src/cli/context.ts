/**
 * Opening a data dir for a command: config, identity and stores, each with a clear error.
 * @module
 */
import type { KeyPair } from "../protocol/mod.ts";
import { loadConfig, loadIdentity, type SporeConfig } from "../config.ts";
import { openStores, type Stores } from "../store/mod.ts";
import { UserError } from "./errors.ts";

/** What a query command needs from a data dir. */
export interface DataDirContext {
  dataDir: string;
  config: SporeConfig;
  keys: KeyPair | undefined;
  stores: Stores;
}

/** Open a data dir for reading; the caller must `stores.close()`. */
export async function openDataDir(dataDir: string): Promise<DataDirContext> {
  const config = await loadConfig(dataDir);
  const keys = await loadIdentity(dataDir);
  const stores = openStores(dataDir);
  return { dataDir, config, keys, stores };
}

/** Run `fn` with an opened data dir, closing the stores afterwards. */
export async function withDataDir<T>(
  dataDir: string,
  fn: (ctx: DataDirContext) => T | Promise<T>,
): Promise<T> {
  const ctx = await openDataDir(dataDir);
  try {
    return await fn(ctx);
  } finally {
    ctx.stores.close();
  }
}

/** The node identity, or a clear error telling the user to run `spore init`. */
export function requireKeys(ctx: DataDirContext): KeyPair {
  if (!ctx.keys) {
    throw new UserError(
      `no node identity in ${ctx.dataDir}. Run \`spore init --data-dir ${ctx.dataDir}\` first.`,
    );
  }
  return ctx.keys;
}
