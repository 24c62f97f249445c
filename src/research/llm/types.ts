/**
 * Shapes shared by every LLM provider: the chat request, the client surface the research loop
 * calls, and the one error type a caller has to understand.
 * @module
 */

/** One turn of a conversation. */
export interface ChatMessage {
  role: "user" | "assistant";
  content: string;
}

/** A chat completion request, provider-neutral. */
export interface ChatRequest {
  system: string;
  messages: ChatMessage[];
  /** Upper bound on generated tokens; the client's configured default otherwise. */
  maxTokens?: number;
  signal?: AbortSignal | undefined;
}

/** A configured model endpoint. */
export interface LlmClient {
  /** Provider name as configured (`anthropic`, `openai`, ...). */
  readonly provider: string;
  /** Model name; also written into records as `agent_model`. */
  readonly model: string;
  /** Return the assistant's text. Throws {@link LlmError}. */
  complete(req: ChatRequest): Promise<string>;
}

/**
 * Why a request failed:
 * - `auth`: the key was refused (401/403), retrying cannot help;
 * - `model`: the model (or the endpoint) does not exist (404 / model_not_found);
 * - `transient`: network error, timeout, 429 or 5xx, still failing after the retries;
 * - `request`: the provider refused this request (other 4xx), the next one may work;
 * - `response`: the reply was not the provider's JSON format or was too large;
 * - `aborted`: the caller's signal fired.
 */
export type LlmErrorKind = "auth" | "model" | "transient" | "request" | "response" | "aborted";

/** A failed LLM call; the message is written for the user and names the provider. */
export class LlmError extends Error {
  override name = "LlmError";
  readonly kind: LlmErrorKind;
  readonly provider: string;
  readonly status?: number | undefined;

  constructor(kind: LlmErrorKind, provider: string, message: string, status?: number) {
    super(message);
    this.kind = kind;
    this.provider = provider;
    this.status = status;
  }

  /** True when no later request can succeed without the user changing the configuration. */
  get fatal(): boolean {
    return this.kind === "auth" || this.kind === "model";
  }
}
