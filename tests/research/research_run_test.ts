// runResearch lives in src/cli/research_run.ts; tested here because tests/cli/ has another owner.
import assert from "node:assert/strict";
import { saveLlmConfig } from "../../src/config.ts";
import { chooseProposer, runResearch } from "../../src/cli/research_run.ts";
import { generateKeyPair } from "../../src/protocol/crypto.ts";
import { createLlmClient } from "../../src/research/llm/mod.ts";
import { FakeNode, FakeTrainer } from "./fakes.ts";
import { startFakeLlm } from "./fake_llm.ts";

async function withDir(fn: (dir: string, node: FakeNode) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spore-research-run-" });
  const node = new FakeNode(`${dir}/node`);
  try {
    await fn(dir, node);
  } finally {
    node.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("without llm.toml research uses the mutator and says why", async () => {
  await withDir(async (dir, node) => {
    const lines: string[] = [];
    await runResearch({
      node,
      trainer: new FakeTrainer(),
      keys: generateKeyPair(),
      dataDir: dir,
      maxExperiments: 3,
      log: (l) => lines.push(l),
    });
    assert.match(lines[0]!, /^research: built-in mutator \(spore-mutator\): no LLM configured/);
    assert.match(
      lines.at(-1)!,
      /^research finished: 3 experiments \(\d keep, \d discard, 0 crash\) \+ baseline$/,
    );
    assert.deepEqual(
      node.published.map((p) => p.record.agent_model),
      ["baseline", "spore-mutator", "spore-mutator", "spore-mutator"],
    );
    assert.ok(
      lines.some((l) => /^research: experiment 1\/3 on the best result [0-9a-f]{12}/.test(l)),
    );
  });
});

Deno.test("an unusable llm.toml falls back to the mutator with the reason", async () => {
  await withDir(async (dir) => {
    await saveLlmConfig(dir, { provider: "acme", api_key: "k", model: "" });
    const c = await chooseProposer(dir);
    assert.equal(c.proposer.agentModel, "spore-mutator");
    assert.match(c.line, /mutator \(spore-mutator\): unknown provider "acme"/);
    await Deno.writeTextFile(`${dir}/llm.toml`, "provider = [");
    assert.match((await chooseProposer(dir)).line, /mutator .*llm\.toml:1:\d+: invalid TOML/);
    await saveLlmConfig(dir, { provider: "groq", api_key: "k", model: "" });
    const llm = await chooseProposer(dir);
    assert.equal(llm.proposer.agentModel, "llama-3.3-70b-versatile");
    assert.match(llm.line, /^research: LLM groq \/ llama-3\.3-70b-versatile/);
  });
});

Deno.test("a refused key stops research (not the node) and says what to fix", async () => {
  await withDir(async (dir, node) => {
    const server = startFakeLlm();
    try {
      server.push({ status: 401, raw: '{"error":{"message":"bad key"}}' });
      const r = createLlmClient({
        provider: "openai",
        api_key: "k",
        model: "m",
        base_url: `${server.baseUrl}/v1`,
      });
      assert.ok(r.ok);
      const lines: string[] = [];
      const summary = await runResearch({
        node,
        trainer: new FakeTrainer(),
        keys: generateKeyPair(),
        dataDir: dir,
        maxExperiments: 2,
        log: (l) => lines.push(l),
        llm: r.client,
      });
      assert.equal(summary.stopReason, "llm");
      assert.match(lines.at(-2)!, /^research stopped \(llm\): 0 experiments/);
      assert.match(
        lines.at(-1)!,
        /^research stopped: openai refused the API key.*To resume: fix llm\.toml .*keeps syncing/,
      );
    } finally {
      await server.close();
    }
  });
});

Deno.test("a trainer failure is retried with backoff; the retry resumes research", async () => {
  await withDir(async (dir, node) => {
    const trainer = new FakeTrainer();
    let failures = 1;
    const env = trainer.environment.bind(trainer);
    trainer.environment = () => {
      if (failures-- > 0) return Promise.reject(new Error("CUDA driver went away"));
      return env();
    };
    const lines: string[] = [];
    const summary = await runResearch({
      node,
      trainer,
      keys: generateKeyPair(),
      dataDir: dir,
      maxExperiments: 1,
      retryFirstMs: 50,
      log: (l) => lines.push(l),
    });
    assert.equal(summary.stopReason, "done");
    assert.ok(
      lines.some((l) => /^research failed: .*CUDA driver went away\. Retrying in 0 s/.test(l)),
      lines.join("\n"),
    );
    assert.match(lines.at(-1)!, /^research finished: 1 experiments/);
  });
});
