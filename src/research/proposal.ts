/**
 * The proposer surface the loop drives: the LLM proposer and the built-in mutator implement it.
 * @module
 */
import type { ResearchContext } from "./coordinator.ts";

/** A proposed experiment, already checked against the proposal policy. */
export interface Proposal {
  code: string;
  description: string;
  hypothesis: string;
  /** Goes into the record's `agent_model`. */
  agentModel: string;
}

/** Which repair rounds a proposal needed. */
export type RepairKind = "invalid" | "policy";

/** A proposal, or why none could be made. */
export type ProposeResult =
  | { ok: true; proposal: Proposal; repairs: RepairKind[] }
  | { ok: false; reason: string; repairs: RepairKind[] };

/** Something that proposes a child of the context's parent. */
export interface Proposer {
  /** `agent_model` of its records (model name or `spore-mutator`). */
  readonly agentModel: string;
  /**
   * Propose one experiment. Resolves `{ ok: false }` for a proposal that cannot be used;
   * throws only `LlmError`s a caller must act on (fatal configuration problems, abort).
   */
  propose(ctx: ResearchContext, signal?: AbortSignal): Promise<ProposeResult>;
}
