// `spore set` lives in src/cli/set.ts; its tests sit here because tests/cli/ has another owner.
import assert from "node:assert/strict";
import { Command } from "commander";
import { loadLlmConfig, saveLlmConfig } from "../../src/config.ts";
import { buildLlmConfig, maskKey, registerSet } from "../../src/cli/set.ts";

async function runSet(dataDir: string, ...args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerSet(program);
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => lines.push(a.map(String).join(" "));
  try {
    await program.parseAsync(["set", ...args, "--data-dir", dataDir], { from: "user" });
  } finally {
    console.log = orig;
  }
  return lines.join("\n");
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spore-set-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("spore set writes llm.toml mode 0600 with the provider defaults", async () => {
  await withTemp(async (dir) => {
    const out = await runSet(dir, "anthropic", "sk-ant-abcdefghijklmnop");
    assert.match(out, /LLM set: anthropic \/ claude-sonnet-4-5 \(key sk-…mnop\)/);
    const cfg = await loadLlmConfig(dir);
    assert.deepEqual(cfg, {
      provider: "anthropic",
      api_key: "sk-ant-abcdefghijklmnop",
      model: "claude-sonnet-4-5",
      base_url: undefined,
      max_token: undefined,
      temperature: undefined,
    });
    assert.equal((await Deno.stat(`${dir}/llm.toml`)).mode! & 0o777, 0o600);
  });
});

Deno.test("spore set keeps --model and --base-url, and hand-set tuning for the same provider", async () => {
  await withTemp(async (dir) => {
    await saveLlmConfig(dir, {
      provider: "custom",
      api_key: "old",
      model: "x",
      max_token: 4000,
      temperature: 0.2,
    });
    await runSet(
      dir,
      "custom",
      "new-key",
      "--model",
      "qwen2.5-coder",
      "--base-url",
      "http://127.0.0.1:8080/v1/",
    );
    const cfg = await loadLlmConfig(dir);
    assert.equal(cfg?.model, "qwen2.5-coder");
    assert.equal(cfg?.base_url, "http://127.0.0.1:8080/v1");
    assert.equal(cfg?.max_token, 4000);
    assert.equal(cfg?.temperature, 0.2);
  });
});

Deno.test("spore set alone shows the masked key and the provider table", async () => {
  await withTemp(async (dir) => {
    const empty = await runSet(dir);
    assert.match(empty, /no LLM configured/);
    assert.match(empty, /groq +openai-chat +llama-3\.3-70b-versatile/);
    await runSet(dir, "openai", "sk-proj-0123456789secret");
    const out = await runSet(dir);
    assert.match(out, /api key +sk-…cret/);
    assert.ok(!out.includes("0123456789secret"));
    assert.match(out, /base url +https:\/\/api\.openai\.com\/v1/);
    const json = JSON.parse(await runSet(dir, "--json"));
    assert.equal(json.config.api_key, "sk-…cret");
    assert.equal(json.providers.length, 5);
  });
});

Deno.test("spore set rejects bad arguments with clear errors", () => {
  assert.throws(() => buildLlmConfig("acme", "k", {}), /unknown provider "acme"; choose one of/);
  assert.throws(() => buildLlmConfig("openai", "a b", {}), /API key must be non-empty/);
  assert.throws(
    () => buildLlmConfig("openai", "k", { baseUrl: "file:///etc/passwd" }),
    /--base-url must be an http\(s\) URL/,
  );
  assert.throws(() => buildLlmConfig("openai", "k", { model: " " }), /--model must be/);
  assert.equal(maskKey("short"), "*****");
  assert.equal(maskKey(""), "(none)");
});
