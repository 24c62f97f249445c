/**
 * Research mode of `spore run`: pick the proposer (the configured LLM, else the built-in
 * mutator, saying why), then run the research loop on the node until done or aborted.
 * @module
 */
import { ConfigError, loadConfig, loadLlmConfig } from "../config.ts";
import type { NodeHandle, Trainer } from "../node_types.ts";
import type { KeyPair } from "../protocol/crypto.ts";
import { createLlmClient, type LlmClient } from "../research/llm/mod.ts";
import { LlmProposer } from "../research/llm_proposer.ts";
import { ResearchLoop, type ResearchSummary } from "../research/loop.ts";
import type { WorkspaceBestCode } from "../research/best_code.ts";
import { MutatorProposer } from "../research/mutator.ts";
import type { Proposer } from "../research/proposal.ts";
import { pythonSyntaxChecker } from "../research/syntax.ts";
import { UserError } from "./errors.ts";
import { safeText } from "./output.ts";
import { safetyCatch } from "../errors.ts";

/** What `spore run` hands to research mode. */
export interface RunResearchOptions {
  node: NodeHandle;
  trainer: Trainer;
  keys: KeyPair;
  dataDir: string;
  maxExperiments?: number;
  signal?: AbortSignal;
  log: (line: string) => void;
  /** `time_budget` written into records (default 300 s, prepare.py's TIME_BUDGET). */
  timeBudget?: number;
  /** Tests inject a client (e.g. one pointed at a fake server); otherwise llm.toml decides. */
  llm?: LlmClient;
  /** The node dials peers: wait this long for one before choosing where to start. */
  peerWaitMs?: number;
  /** After each keep, the workspace's train.py becomes the kept code (see best_code.ts). */
  bestCode?: WorkspaceBestCode;
}

/** The proposer chosen for a data dir, and the banner line that says which and why. */
export async function chooseProposer(
  dataDir: string,
  llm?: LlmClient,
): Promise<{ proposer: Proposer; llm?: LlmClient; line: string }> {
  const mutator = new MutatorProposer();
  let client = llm;
  if (!client) {
    let why: string;
    try {
      const cfg = await loadLlmConfig(dataDir);
      if (!cfg) {
        why = "no LLM configured (spore set <provider> <key> to add one)";
      } else {
        const r = createLlmClient(cfg);
        if (r.ok) client = r.client;
        why = r.ok ? "" : r.reason;
      }
    } catch (e) {
      why = e instanceof ConfigError ? e.message : `llm.toml unreadable: ${(e as Error).message}`;
    }
    if (!client) {
      return {
        proposer: mutator,
        line: `research: built-in mutator (spore-mutator): ${why}`,
      };
    }
  }
  let python = Deno.env.get("SPORE_PYTHON") ?? "python3";
  try {
    python = (await loadConfig(dataDir)).python ?? python;
  } catch (e) {
    safetyCatch(e); // config errors are reported by `spore run` itself
  }
  return {
    proposer: new LlmProposer(client, pythonSyntaxChecker(python)),
    llm: client,
    line: `research: LLM ${client.provider} / ${safeText(client.model)} ` +
      "(built-in mutator when a proposal fails)",
  };
}

/** One status line for a finished loop. */
export function summaryLine(s: ResearchSummary): string {
  return `research ${s.stopReason === "done" ? "finished" : `stopped (${s.stopReason})`}: ` +
    `${s.published} experiments (${s.kept} keep, ${s.discarded} discard, ${s.crashed} crash)` +
    `${s.baselinePublished ? " + baseline" : ""}${s.skipped ? `, ${s.skipped} skipped` : ""}`;
}

/**
 * Run research mode until `maxExperiments` or `signal`.
 * @throws UserError when research cannot go on without the user (LLM key refused, unknown
 * model, a crashing baseline, a trainer failure), with the reason.
 */
export async function runResearch(opts: RunResearchOptions): Promise<void> {
  const chosen = await chooseProposer(opts.dataDir, opts.llm);
  opts.log(chosen.line);
  const loop = new ResearchLoop({
    node: opts.node,
    trainer: opts.trainer,
    keys: opts.keys,
    proposer: chosen.proposer,
    fallback: chosen.llm ? new MutatorProposer() : undefined,
    maxExperiments: opts.maxExperiments,
    timeBudget: opts.timeBudget,
    peerWaitMs: opts.peerWaitMs,
    onKeep: opts.bestCode ? (record, code) => opts.bestCode!.keep(record.id, code) : undefined,
    signal: opts.signal,
    onProgress: (e) => opts.log(`research: ${safeText(e.message, 200)}`),
  });
  const summary = await loop.run();
  opts.log(summaryLine(summary));
  if (summary.stopReason !== "done" && summary.stopReason !== "aborted") {
    throw new UserError(`research stopped: ${summary.message ?? summary.stopReason}`);
  }
}
