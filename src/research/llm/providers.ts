/**
 * The provider table: which wire API each provider speaks, its default endpoint and model.
 * @module
 */

/** The two HTTP APIs we speak. */
export type ProviderApi = "anthropic-messages" | "openai-chat";

/** One row of the provider table. */
export interface ProviderInfo {
  name: string;
  api: ProviderApi;
  /** Base URL; Anthropic's has no `/v1` (the path adds it), chat-completions bases include it. */
  defaultBaseUrl: string;
  defaultModel: string;
  /** Where a user gets a key (for messages). */
  keyHint: string;
}

/** Every supported provider, in the order `spore set` lists them. */
export const PROVIDERS: readonly ProviderInfo[] = [
  {
    name: "anthropic",
    api: "anthropic-messages",
    defaultBaseUrl: "https://api.anthropic.com",
    defaultModel: "claude-sonnet-4-5",
    keyHint: "https://console.anthropic.com/settings/keys",
  },
  {
    name: "openai",
    api: "openai-chat",
    defaultBaseUrl: "https://api.openai.com/v1",
    defaultModel: "gpt-4.1",
    keyHint: "https://platform.openai.com/api-keys",
  },
  {
    name: "groq",
    api: "openai-chat",
    defaultBaseUrl: "https://api.groq.com/openai/v1",
    defaultModel: "llama-3.3-70b-versatile",
    keyHint: "https://console.groq.com/keys",
  },
  {
    name: "xai",
    api: "openai-chat",
    defaultBaseUrl: "https://api.x.ai/v1",
    defaultModel: "grok-3",
    keyHint: "https://console.x.ai",
  },
  {
    // Any OpenAI-compatible server; the default is a local Ollama.
    name: "custom",
    api: "openai-chat",
    defaultBaseUrl: "http://127.0.0.1:11434/v1",
    defaultModel: "llama3.1",
    keyHint: "the key your server expects (any non-empty value if it needs none)",
  },
];

/** The table row of `name` (case-insensitive), or undefined for an unknown provider. */
export function providerInfo(name: string): ProviderInfo | undefined {
  const n = name.trim().toLowerCase();
  return PROVIDERS.find((p) => p.name === n);
}

/** Names of every provider, for messages. */
export function providerNames(): string[] {
  return PROVIDERS.map((p) => p.name);
}
