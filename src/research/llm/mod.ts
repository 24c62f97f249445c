/**
 * LLM providers: build a client from `llm.toml` settings.
 * @module
 */
import type { LlmConfig } from "../../config.ts";
import { AnthropicClient, ChatCompletionsClient } from "./clients.ts";
import type { HttpOptions } from "./http.ts";
import { providerInfo, providerNames } from "./providers.ts";
import type { LlmClient } from "./types.ts";

export { type ChatMessage, type ChatRequest, type LlmClient, LlmError } from "./types.ts";
export { type LlmErrorKind } from "./types.ts";
export { type ProviderInfo, providerInfo, providerNames, PROVIDERS } from "./providers.ts";
export { defaultSleep, type HttpOptions, parseRetryAfter, type SleepFn } from "./http.ts";

/** Generated tokens per reply when llm.toml sets no `max_token`: a full train.py fits. */
export const DEFAULT_MAX_TOKENS = 16_000;

/** A client, or the reason none can be built from this configuration. */
export type ClientResult = { ok: true; client: LlmClient } | { ok: false; reason: string };

/**
 * Build the client for a configuration, applying the provider's default model and base URL.
 * Never throws: an unusable configuration yields the reason, for the fallback message.
 */
export function createLlmClient(cfg: LlmConfig, http?: HttpOptions): ClientResult {
  const info = providerInfo(cfg.provider);
  if (!info) {
    return {
      ok: false,
      reason: `unknown provider "${cfg.provider.slice(0, 40)}" in llm.toml (known: ${
        providerNames().join(", ")
      })`,
    };
  }
  if (!cfg.api_key.trim()) {
    return { ok: false, reason: `llm.toml has no api_key for ${info.name}` };
  }
  const baseUrl = cfg.base_url?.trim() || info.defaultBaseUrl;
  if (!/^https?:\/\/[^\s]+$/.test(baseUrl)) {
    return {
      ok: false,
      reason: `llm.toml base_url "${baseUrl.slice(0, 80)}" is not an http(s) URL`,
    };
  }
  const settings = {
    provider: info.name,
    apiKey: cfg.api_key.trim(),
    model: cfg.model.trim() || info.defaultModel,
    baseUrl,
    maxTokens: cfg.max_token && cfg.max_token > 0 ? cfg.max_token : DEFAULT_MAX_TOKENS,
    temperature: cfg.temperature,
    http,
  };
  const client = info.api === "anthropic-messages"
    ? new AnthropicClient(settings)
    : new ChatCompletionsClient(settings);
  return { ok: true, client };
}
