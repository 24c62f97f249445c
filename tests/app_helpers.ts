/** Nodes started as a library, the way `spore run` composes them. */
import { type RunningNode, startNode as startApp } from "../src/app.ts";
import { FAST } from "./net/helpers.ts";

/** A sync-only genesis node on loopback, composed as `spore run --no-train` (verifier attached). */
export function startSyncOnlyApp(dataDir: string): Promise<RunningNode> {
  return startApp({
    dataDir,
    mode: "sync-only",
    genesis: true,
    host: "127.0.0.1",
    port: 0,
    explorer: false,
    network: { ...FAST, verifyWorkers: 1 },
  });
}
