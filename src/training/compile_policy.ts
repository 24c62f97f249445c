/**
 * When `train.py` runs with `torch.compile` off, as the Python node decides it: off the CUDA path
 * and on small cards (see gpu.ts), when the user sets `SPORE_DISABLE_COMPILE=1`, and for good once
 * a run of this node crashed in torch.compile/inductor/triton: the crash is remembered in the data
 * dir (`compile_disabled.json`), so every later run, across restarts, starts without compile
 * instead of paying for the crash and the retry again.
 * @module
 */
import { join } from "node:path";
import { atomicWrite } from "../config.ts";

/** The file in the data dir that remembers a compile crash. */
export const COMPILE_MEMORY_FILE = "compile_disabled.json";

/** Longest reason kept (the crash's error line). */
const MAX_REASON_CHARS = 300;

/** A remembered compile crash. */
export interface CompileCrash {
  /** ISO time of the crash. */
  at: string;
  /** The error line of the crashed run. */
  reason: string;
}

/** Whether runs start with compile off, and why (for the banner). */
export interface CompilePolicy {
  disabled: boolean;
  /** Why compile is off; undefined when it is on. */
  why?: string;
}

/** The remembered crash, if any; a damaged file counts as none (it is rewritten on the next). */
export async function readCompileCrash(dataDir: string): Promise<CompileCrash | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dataDir, COMPILE_MEMORY_FILE));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text);
    if (typeof v?.at === "string" && typeof v?.reason === "string") {
      return { at: v.at.slice(0, 40), reason: v.reason.slice(0, MAX_REASON_CHARS) };
    }
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e; // not JSON: treated as absent, see above
  }
  return undefined;
}

/** Remember that a run crashed in compile, so later runs of this node start without it. */
export async function rememberCompileCrash(
  dataDir: string,
  reason: string,
  now = new Date(),
): Promise<CompileCrash> {
  const crash = { at: now.toISOString(), reason: reason.slice(0, MAX_REASON_CHARS) };
  await Deno.mkdir(dataDir, { recursive: true });
  await atomicWrite(join(dataDir, COMPILE_MEMORY_FILE), JSON.stringify(crash) + "\n");
  return crash;
}

/** The policy from the device default, the user's environment and the remembered crash. */
export function compilePolicy(o: {
  /** The device's default (gpu.ts `compileDisabledByDefault`). */
  deviceDefault: boolean;
  /** `SPORE_DISABLE_COMPILE` from the user's environment. */
  env?: string | undefined;
  crash?: CompileCrash | undefined;
}): CompilePolicy {
  if (o.env === "1") return { disabled: true, why: "SPORE_DISABLE_COMPILE=1 is set" };
  if (o.crash) {
    return {
      disabled: true,
      why: `a run crashed in torch.compile at ${o.crash.at} (${o.crash.reason}); ` +
        `delete ${COMPILE_MEMORY_FILE} in the data dir to try compile again`,
    };
  }
  if (o.deviceDefault) {
    return { disabled: true, why: "off on this device (no CUDA or a small GPU)" };
  }
  return { disabled: false };
}
