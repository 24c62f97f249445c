import assert from "node:assert/strict";
import { createLlmClient, type HttpOptions, LlmError } from "../../../src/research/llm/mod.ts";
import type { LlmClient } from "../../../src/research/llm/types.ts";
import { anthropicJson, type FakeLlmServer, startFakeLlm } from "../fake_llm.ts";

/** Fast, recorded sleeps instead of real waiting. */
function fakeHttp(extra: HttpOptions = {}): HttpOptions & { slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    sleep: (ms) => (slept.push(ms), Promise.resolve()),
    random: () => 0,
    backoffMs: 100,
    timeoutMs: 2000,
    ...extra,
  };
}

function client(
  server: FakeLlmServer,
  provider: string,
  http: HttpOptions,
  model = "",
): LlmClient {
  const base = provider === "anthropic" ? server.baseUrl : `${server.baseUrl}/v1`;
  const r = createLlmClient({ provider, api_key: "sk-test-123", model, base_url: base }, http);
  assert.ok(r.ok);
  return r.client;
}

const ask = { system: "sys", messages: [{ role: "user" as const, content: "hello" }] };

async function withServer(fn: (s: FakeLlmServer) => Promise<void>): Promise<void> {
  const server = startFakeLlm();
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

Deno.test("openai-style providers speak chat completions with a bearer key", async () => {
  await withServer(async (server) => {
    for (const provider of ["openai", "groq", "xai", "custom"]) {
      server.push({ text: `hi from ${provider}` });
      const c = client(server, provider, fakeHttp(), "m1");
      assert.equal(await c.complete(ask), `hi from ${provider}`);
      const seen = server.requests.at(-1)!;
      assert.equal(seen.path, "/v1/chat/completions");
      assert.equal(seen.headers.authorization, "Bearer sk-test-123");
      assert.equal(seen.body.model, "m1");
      assert.deepEqual(seen.body.messages, [
        { role: "system", content: "sys" },
        { role: "user", content: "hello" },
      ]);
    }
  });
});

Deno.test("anthropic speaks the Messages API with x-api-key and version header", async () => {
  await withServer(async (server) => {
    server.push({
      raw: anthropicJson("part one, ").replace(
        '[{"type":"text","text":"part one, "}]',
        '[{"type":"text","text":"part one, "},{"type":"tool_use","id":"x"},{"type":"text","text":"two"}]',
      ),
    });
    const c = client(server, "anthropic", fakeHttp());
    assert.equal(c.model, "claude-sonnet-4-5");
    assert.equal(await c.complete(ask), "part one, two");
    const seen = server.requests[0]!;
    assert.equal(seen.path, "/v1/messages");
    assert.equal(seen.headers["x-api-key"], "sk-test-123");
    assert.equal(seen.headers["anthropic-version"], "2023-06-01");
    assert.equal(seen.body.system, "sys");
    assert.equal(seen.body.max_tokens, 16000);
  });
});

Deno.test("500 and 429 are retried with backoff, honoring Retry-After", async () => {
  await withServer(async (server) => {
    server.push(
      { status: 500, raw: '{"error":{"message":"boom"}}' },
      { status: 429, raw: '{"error":{"message":"slow down"}}', headers: { "retry-after": "7" } },
      { status: 503, raw: "not json at all" },
      { text: "finally" },
    );
    const http = fakeHttp();
    assert.equal(await client(server, "openai", http).complete(ask), "finally");
    assert.equal(server.requests.length, 4);
    // 100 ms doubled per attempt, except the Retry-After wait.
    assert.deepEqual(http.slept, [100, 7000, 400]);
  });
});

Deno.test("retries give up with a transient error naming the provider", async () => {
  await withServer(async (server) => {
    for (let i = 0; i < 3; i++) server.push({ status: 502, raw: "" });
    const err = await client(server, "groq", fakeHttp({ maxRetries: 2 })).complete(ask).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof LlmError);
    assert.equal(err.kind, "transient");
    assert.equal(err.fatal, false);
    assert.match(err.message, /groq is unavailable \(HTTP 502\) after 3 attempts/);
  });
});

Deno.test("a request that times out is retried, then succeeds", async () => {
  await withServer(async (server) => {
    server.push({ delayMs: 3000, text: "late" }, { text: "on time" });
    const http = fakeHttp({ timeoutMs: 150 });
    assert.equal(await client(server, "openai", http).complete(ask), "on time");
    assert.equal(http.slept.length, 1);
  });
});

Deno.test("timeouts on every attempt end with a clear transient error", async () => {
  await withServer(async (server) => {
    server.push({ delayMs: 3000 }, { delayMs: 3000 });
    const err = await client(server, "anthropic", fakeHttp({ timeoutMs: 100, maxRetries: 1 }))
      .complete(ask).catch((e) => e);
    assert.ok(err instanceof LlmError);
    assert.equal(err.kind, "transient");
    assert.match(err.message, /anthropic is unavailable \(no answer within 0 s\)/);
  });
});

Deno.test("401 and 403 stop at once with a message saying what to do", async () => {
  await withServer(async (server) => {
    for (const status of [401, 403]) {
      const before = server.requests.length;
      server.push({
        status,
        raw:
          '{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}',
      });
      const err = await client(server, "anthropic", fakeHttp()).complete(ask).catch((e) => e);
      assert.ok(err instanceof LlmError);
      assert.equal(err.kind, "auth");
      assert.ok(err.fatal);
      assert.match(err.message, /anthropic refused the API key .*invalid x-api-key/);
      assert.match(err.message, /spore set anthropic <key>/);
      assert.equal(server.requests.length, before + 1);
    }
  });
});

Deno.test("an unknown model stops with a message naming the model", async () => {
  await withServer(async (server) => {
    server.push({
      status: 404,
      raw: JSON.stringify({
        error: {
          message: "The model `nope` does not exist",
          type: "invalid_request_error",
          code: "model_not_found",
        },
      }),
    });
    const err = await client(server, "openai", fakeHttp(), "nope").complete(ask).catch((e) => e);
    assert.ok(err instanceof LlmError);
    assert.equal(err.kind, "model");
    assert.ok(err.fatal);
    assert.match(err.message, /openai does not know model "nope"/);
    assert.match(err.message, /--model/);
  });
});

Deno.test("huge or malformed successful replies are refused, not parsed", async () => {
  await withServer(async (server) => {
    server.push(
      { text: "x".repeat(50_000) },
      { raw: new Uint8Array([0, 255, 1, 2, 0xfe]) },
      { raw: '{"choices":[]}' },
    );
    const http = fakeHttp({ maxResponseBytes: 10_000 });
    const c = client(server, "openai", http);
    for (const pattern of [/larger than 10000 bytes/, /not JSON/, /no choices\[0\]\.message/]) {
      const err = await c.complete(ask).catch((e) => e);
      assert.ok(err instanceof LlmError);
      assert.equal(err.kind, "response");
      assert.match(err.message, pattern);
    }
  });
});

Deno.test("other 4xx answers are request errors, not retried", async () => {
  await withServer(async (server) => {
    server.push({ status: 400, raw: '{"error":{"message":"context too long"}}' });
    const err = await client(server, "xai", fakeHttp()).complete(ask).catch((e) => e);
    assert.ok(err instanceof LlmError);
    assert.equal(err.kind, "request");
    assert.equal(err.fatal, false);
    assert.equal(server.requests.length, 1);
  });
});

Deno.test("an aborted request stops without more attempts", async () => {
  await withServer(async (server) => {
    server.push({ delayMs: 3000 });
    const ctl = new AbortController();
    const p = client(server, "openai", fakeHttp()).complete({ ...ask, signal: ctl.signal });
    setTimeout(() => ctl.abort(), 50);
    const err = await p.catch((e) => e);
    assert.ok(err instanceof LlmError);
    assert.equal(err.kind, "aborted");
    assert.equal(server.requests.length, 1);
  });
});

Deno.test("createLlmClient applies defaults and explains unusable settings", () => {
  const ok = createLlmClient({ provider: "Groq", api_key: "k", model: "" });
  assert.ok(ok.ok);
  assert.equal(ok.client.provider, "groq");
  assert.equal(ok.client.model, "llama-3.3-70b-versatile");
  const unknown = createLlmClient({ provider: "acme", api_key: "k", model: "" });
  assert.ok(!unknown.ok);
  assert.match(unknown.reason, /unknown provider "acme".*anthropic, openai, groq, xai, custom/);
  const noKey = createLlmClient({ provider: "openai", api_key: " ", model: "" });
  assert.ok(!noKey.ok);
  assert.match(noKey.reason, /no api_key/);
  const badUrl = createLlmClient({
    provider: "custom",
    api_key: "k",
    model: "",
    base_url: "ftp:x",
  });
  assert.ok(!badUrl.ok);
  assert.match(badUrl.reason, /not an http\(s\) URL/);
});
