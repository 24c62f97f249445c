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
import { ResearchLoop, type ResearchSummary, type StopReason } from "../research/loop.ts";
import type { WorkspaceBestCode } from "../research/best_code.ts";
import { MutatorProposer } from "../research/mutator.ts";
import type { Proposer } from "../research/proposal.ts";
import { pythonSyntaxChecker } from "../research/syntax.ts";
import { safeText } from "./output.ts";
import { safetyCatch } from "../errors.ts";

/** What `spore run` hands to research mode. */
export interface RunResearchOptions {
  node: NodeHandle;
  trainer: Trainer;
  keys: KeyPair;
  dataDir: string;
  maxExperiments?: number | undefined;
  signal?: AbortSignal;
  log: (line: string) => void;
  /** `time_budget` written into records (default 300 s, prepare.py's TIME_BUDGET). */
  timeBudget?: number | undefined;
  /** Tests inject a client (e.g. one pointed at a fake server); otherwise llm.toml decides. */
  llm?: LlmClient;
  /** The node dials peers: wait this long for one before choosing where to start. */
  peerWaitMs?: number;
  /** After each keep, the workspace's train.py becomes the kept code (see best_code.ts). */
  bestCode?: WorkspaceBestCode;
  /** First retry wait after a failure a retry can help with ({@link RESEARCH_RETRY_FIRST_MS}). */
  retryFirstMs?: number;
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

/** First wait before research retries after a failure a retry can help with. */
export const RESEARCH_RETRY_FIRST_MS = 60_000;
/** Retries back off, doubling, up to this. */
export const RESEARCH_RETRY_MAX_MS = 30 * 60_000;

/** Stops a retry cannot fix: the user must change something first. */
const NEEDS_USER: Partial<Record<StopReason, string>> = {
  "llm": "fix llm.toml (spore set <provider> <key> [--model M]) and restart the node",
  "baseline-crash": "fix the workspace's train.py (run `spore train` to see the error) and " +
    "restart the node",
  "stuck": "check the proposer (llm.toml, or remove it to use the built-in mutator) and restart",
};

/**
 * Run research mode until `maxExperiments` or `signal`. A failure never stops the node: it is
 * said, with what to fix where a retry cannot help (LLM key or model refused, a crashing
 * baseline), and retried with backoff where it can (a trainer error, a network or LLM outage).
 * Resolves with the last summary: `done` only when `maxExperiments` were run.
 */
export async function runResearch(opts: RunResearchOptions): Promise<ResearchSummary> {
  const chosen = await chooseProposer(opts.dataDir, opts.llm);
  opts.log(chosen.line);
  let waitMs = opts.retryFirstMs ?? RESEARCH_RETRY_FIRST_MS;
  for (;;) {
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
    if (summary.stopReason === "done" || summary.stopReason === "aborted") return summary;
    const why = safeText(summary.message ?? summary.stopReason, 300);
    const fix = NEEDS_USER[summary.stopReason];
    if (fix) {
      opts.log(
        `research stopped: ${why}. To resume: ${fix}. The node keeps syncing and verifying.`,
      );
      return summary;
    }
    opts.log(
      `research failed: ${why}. Retrying in ${Math.round(waitMs / 1000)} s; ` +
        "the node keeps syncing and verifying meanwhile.",
    );
    if (!await sleep(waitMs, opts.signal)) return summary;
    waitMs = Math.min(RESEARCH_RETRY_MAX_MS, waitMs * 2);
  }
}

/** Wait `ms`; false when `signal` aborted first. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
