/**
 * The LLM proposer: prompt, parse the reply, review it, and send the reasons back for one
 * repair round of invalid code and one of policy violations.
 * @module
 */
import { type ResearchContext, systemPrompt, userPrompt } from "./coordinator.ts";
import { parseReply } from "./extract.ts";
import type { ChatMessage, LlmClient } from "./llm/mod.ts";
import { LlmError } from "./llm/mod.ts";
import { reviewCode, type SyntaxChecker } from "./policy.ts";
import type { Proposer, ProposeResult, RepairKind } from "./proposal.ts";

/** How much of a rejected reply is sent back in the repair conversation. */
const MAX_ECHO_CHARS = 60_000;

function repairRequest(kind: RepairKind, reasons: string[]): string {
  const what = kind === "invalid"
    ? "Your reply could not be used as train.py"
    : "Your train.py breaks the local policy";
  return `${what}:\n${reasons.map((r) => `- ${r}`).join("\n")}\n\n` +
    "Fix this and reply again in the required format (Description:, Hypothesis:, then the " +
    "COMPLETE train.py in one ```python block).";
}

/** Proposes experiments with an LLM. */
export class LlmProposer implements Proposer {
  readonly agentModel: string;
  readonly #llm: LlmClient;
  readonly #syntax: SyntaxChecker;

  constructor(llm: LlmClient, syntax: SyntaxChecker) {
    this.#llm = llm;
    this.#syntax = syntax;
    this.agentModel = llm.model;
  }

  /**
   * Ask for a proposal, with at most one repair round per kind. Non-fatal LLM failures resolve
   * `{ ok: false }`; fatal ones (`auth`, `model`) and aborts are thrown.
   */
  async propose(ctx: ResearchContext, signal?: AbortSignal): Promise<ProposeResult> {
    const system = systemPrompt(ctx.gpuClass, ctx.parentCode);
    const messages: ChatMessage[] = [{ role: "user", content: userPrompt(ctx) }];
    const repairs: RepairKind[] = [];
    while (true) {
      let reply: string;
      try {
        reply = await this.#llm.complete({ system, messages, signal });
      } catch (e) {
        if (e instanceof LlmError && (e.fatal || e.kind === "aborted")) throw e;
        return { ok: false, reason: (e as Error).message, repairs };
      }
      const parsed = parseReply(reply);
      const review = parsed.code === undefined
        ? {
          ok: false as const,
          kind: "invalid" as const,
          reasons: ["the reply has no ```python code block with the complete train.py"],
        }
        : await reviewCode(parsed.code, ctx.parentCode, ctx.gpuClass, this.#syntax);
      if (review.ok) {
        return {
          ok: true,
          proposal: {
            code: parsed.code!,
            description: parsed.description || "LLM proposal",
            hypothesis: parsed.hypothesis,
            agentModel: this.agentModel,
          },
          repairs,
        };
      }
      if (repairs.includes(review.kind)) {
        return {
          ok: false,
          reason: `still ${review.kind === "invalid" ? "invalid" : "against policy"} after a ` +
            `repair round: ${review.reasons.join("; ")}`,
          repairs,
        };
      }
      repairs.push(review.kind);
      messages.push(
        { role: "assistant", content: reply.slice(0, MAX_ECHO_CHARS) || "(empty reply)" },
        { role: "user", content: repairRequest(review.kind, review.reasons) },
      );
    }
  }
}
