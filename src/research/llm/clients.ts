/**
 * The two wire formats: Anthropic's Messages API and OpenAI-style chat completions (OpenAI,
 * Groq, xAI, any compatible server).
 * @module
 */
import { type HttpOptions, postJson } from "./http.ts";
import { type ChatRequest, type LlmClient, LlmError } from "./types.ts";

/** Settings for one client. */
export interface ClientSettings {
  provider: string;
  apiKey: string;
  model: string;
  baseUrl: string;
  maxTokens: number;
  temperature?: number | undefined;
  http?: HttpOptions | undefined;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/** What both wire formats share: the settings, and one authenticated JSON POST. */
abstract class HttpLlmClient implements LlmClient {
  readonly provider: string;
  readonly model: string;
  protected readonly settings: ClientSettings;

  constructor(settings: ClientSettings) {
    this.settings = settings;
    this.provider = settings.provider;
    this.model = settings.model;
  }

  /** Send the conversation; returns the reply's text. */
  abstract complete(req: ChatRequest): Promise<string>;

  /** POST `body` to `{baseUrl}{path}` and return the parsed JSON reply. */
  protected post(
    path: string,
    headers: Record<string, string>,
    body: Record<string, unknown>,
    req: ChatRequest,
  ): Promise<unknown> {
    const s = this.settings;
    return postJson({
      provider: s.provider,
      model: s.model,
      url: `${trimSlash(s.baseUrl)}${path}`,
      headers,
      body: {
        model: s.model,
        max_tokens: req.maxTokens ?? s.maxTokens,
        ...body,
        ...(s.temperature === undefined ? {} : { temperature: s.temperature }),
      },
      signal: req.signal,
    }, s.http);
  }
}

/** Client for `POST {base}/v1/messages` (Anthropic). */
export class AnthropicClient extends HttpLlmClient {
  /** Send the conversation; returns the concatenated text blocks of the reply. */
  async complete(req: ChatRequest): Promise<string> {
    const s = this.settings;
    const json = await this.post(
      "/v1/messages",
      { "x-api-key": s.apiKey, "anthropic-version": "2023-06-01" },
      {
        system: req.system,
        messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
      },
      req,
    );
    const content = (json as { content?: unknown })?.content;
    if (!Array.isArray(content)) {
      throw new LlmError("response", s.provider, `${s.provider} reply has no "content" list`);
    }
    return content
      .filter((b) => b && typeof b === "object" && b.type === "text" && typeof b.text === "string")
      .map((b) => b.text as string)
      .join("");
  }
}

/** Client for `POST {base}/chat/completions` (OpenAI, Groq, xAI, custom). */
export class ChatCompletionsClient extends HttpLlmClient {
  /** Send the conversation; returns the first choice's message text. */
  async complete(req: ChatRequest): Promise<string> {
    const s = this.settings;
    const json = await this.post(
      "/chat/completions",
      { authorization: `Bearer ${s.apiKey}` },
      {
        messages: [
          { role: "system", content: req.system },
          ...req.messages.map((m) => ({ role: m.role, content: m.content })),
        ],
      },
      req,
    );
    const choices = (json as { choices?: unknown })?.choices;
    const content = Array.isArray(choices)
      ? (choices[0] as { message?: { content?: unknown } })?.message?.content
      : undefined;
    if (typeof content === "string") return content;
    // Some compatible servers return content as a list of text parts.
    if (Array.isArray(content)) {
      return content.map((p) => (typeof p?.text === "string" ? p.text : "")).join("");
    }
    throw new LlmError("response", s.provider, `${s.provider} reply has no choices[0].message`);
  }
}
