/**
 * A real HTTP server on 127.0.0.1 that answers like the Anthropic Messages API and OpenAI chat
 * completions, from a script of replies, and records what it was sent.
 */

/** One scripted reply. */
export interface ScriptedReply {
  status?: number;
  /** Assistant text, wrapped in the provider's success JSON (ignored when `raw` is set). */
  text?: string;
  /** A body sent as-is (error JSON, junk...). */
  raw?: string | Uint8Array<ArrayBuffer>;
  headers?: Record<string, string>;
  /** Wait this long before answering (for timeout tests); cut short by `close()`. */
  delayMs?: number;
}

/** A request as the server saw it. */
export interface SeenRequest {
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** The running fake server. */
export interface FakeLlmServer {
  baseUrl: string;
  requests: SeenRequest[];
  /** Append replies; when the script runs out the server answers 500. */
  push(...replies: ScriptedReply[]): void;
  close(): Promise<void>;
}

/** OpenAI chat-completions success JSON. */
export function openAiJson(text: string, model = "fake-model"): string {
  return JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1700000000,
    model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: text },
      finish_reason: "stop",
    }],
    usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
  });
}

/** Anthropic Messages success JSON. */
export function anthropicJson(text: string, model = "fake-model"): string {
  return JSON.stringify({
    id: "msg_1",
    type: "message",
    role: "assistant",
    model,
    content: [{ type: "text", text }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 10 },
  });
}

/** Start the server; the success format follows the request path (`/v1/messages` = Anthropic). */
export function startFakeLlm(): FakeLlmServer {
  const script: ScriptedReply[] = [];
  const requests: SeenRequest[] = [];
  const waiting = new Set<() => void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      let body: Record<string, unknown> = {};
      try {
        body = await req.json();
      } catch { /* recorded as empty */ }
      requests.push({ path, headers: Object.fromEntries(req.headers), body });
      const reply = script.shift() ?? { status: 500, raw: '{"error":{"message":"script empty"}}' };
      if (reply.delayMs) {
        // Delayed replies end early when the server closes, so tests never wait them out.
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            waiting.delete(done);
            resolve();
          };
          const t = setTimeout(done, reply.delayMs);
          waiting.add(done);
        });
      }
      const anthropic = path.endsWith("/v1/messages");
      const text = reply.text ?? "";
      const payload = reply.raw ?? (anthropic ? anthropicJson(text) : openAiJson(text));
      return new Response(payload, {
        status: reply.status ?? 200,
        headers: { "content-type": "application/json", ...reply.headers },
      });
    },
  );
  const addr = server.addr as Deno.NetAddr;
  return {
    baseUrl: `http://127.0.0.1:${addr.port}`,
    requests,
    push: (...replies) => void script.push(...replies),
    close: async () => {
      for (const done of [...waiting]) done();
      await server.shutdown();
      await server.finished;
    },
  };
}
