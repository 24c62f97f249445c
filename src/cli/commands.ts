/**
 * Every command group, registered on the program in the order `--help` lists them.
 * @module
 */
import type { Command } from "commander";
import { registerInit } from "./init.ts";
import { registerStatus } from "./status.ts";
import { registerGraph } from "./graph.ts";
import { registerPeer } from "./peer.ts";
import { registerProfile } from "./profile.ts";
import { registerClean } from "./clean.ts";
import { registerVersion } from "./version.ts";
import { registerExplorer } from "./explorer.ts";
import { registerRun } from "./run.ts";
import { registerDaemon } from "./daemon.ts";
import { registerSet } from "./set.ts";
import { registerTrain } from "./train.ts";
import { registerDoctor } from "./doctor.ts";
import { registerCheckout } from "./checkout.ts";

/** Register all commands on `program`. */
export function registerCommands(program: Command): void {
  registerInit(program);
  registerRun(program);
  registerDaemon(program);
  registerStatus(program);
  registerGraph(program);
  registerPeer(program);
  registerProfile(program);
  registerExplorer(program);
  registerTrain(program);
  registerCheckout(program);
  registerSet(program);
  registerDoctor(program);
  registerClean(program);
  registerVersion(program);
}
