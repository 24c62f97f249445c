/**
 * Seeing the research in the explorer (issue 18), in headless Chromium: the progress chart draws
 * one point per seeded record of its class and gains one when a record arrives over /ws; the
 * live run card shows a real training process's step and loss while it runs (a stand-in
 * train.py run by the training runner, progress parsed from its output), then its result; the
 * experiment page shows that run's loss curve and downloads its exact train.py. Screenshots go
 * to test-output/research-*.png.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { CHROMIUM, hasChromium, launchChromium, watchProblems } from "./browser.ts";
import { startExplorer } from "../../src/explorer/server.ts";
import { keyPairFromSeed, sha256Hex } from "../../src/protocol/mod.ts";
import { LiveRuns } from "../../src/research/live_run.ts";
import { ResearchLoop } from "../../src/research/loop.ts";
import { MutatorProposer, seededRandom } from "../../src/research/mutator.ts";
import { runTraining } from "../../src/training/runner.ts";
import { progressUpdate, trainOutcome } from "../../src/training/trainer.ts";
import { fakePython } from "../training/fake_python.ts";
import type { Trainer, TrainOutcome, TrainProgressUpdate } from "../../src/node_types.ts";
import { FakeNode, makeRecord, seedGraph, SEEDS, withNode } from "../explorer/helpers.ts";

if (!hasChromium) {
  console.warn(`skipping research view tests: ${CHROMIUM} not found (apt-get install chromium)`);
}

const OUTPUT_DIR = join(import.meta.dirname ?? ".", "..", "..", "test-output");
const STEPS = 5;

/**
 * Prints STEPS progress lines (loss 2/step) in the format train.py uses, then waits for a
 * `release` file in its working directory before printing the result block, so the test can
 * look at the card while the run is still training.
 */
const STANDIN = `import os, time
N = ${STEPS}
for s in range(1, N + 1):
    print(f"step {s:05d} ({100 * s / N:.1f}%) | loss: {2 / s:.6f} | remaining: {N - s}s", flush=True)
    time.sleep(0.05)
deadline = time.time() + 120
while not os.path.exists("release") and time.time() < deadline:
    time.sleep(0.05)
print("---")
print("val_bpb:          1.234500")
print("training_seconds: 1.0")
print("total_seconds:    1.0")
print("peak_vram_mb:     0.0")
print("num_steps:        ${STEPS}")
print("num_params_M:     0.01")
print("num_parameters:   10000", flush=True)
`;

/** Runs code with the real runner (no sandbox: the code is the test's own) in `dir`. */
class StandinTrainer implements Trainer {
  constructor(readonly dir: string) {}

  environment() {
    return Promise.resolve({
      gpuModel: "CPU",
      gpuClass: "CPU",
      cudaVersion: "",
      torchVersion: "",
    });
  }

  workspaceIds() {
    return Promise.resolve({ datasetCid: "d".repeat(64), prepareCid: "e".repeat(64) });
  }

  baselineCode() {
    return Promise.resolve(STANDIN);
  }

  async run(
    code: string,
    opts: { signal?: AbortSignal; onProgress?: (u: TrainProgressUpdate) => void } = {},
  ): Promise<TrainOutcome> {
    await Deno.writeTextFile(join(this.dir, "train.py"), code);
    const r = await runTraining({
      python: fakePython("/usr/bin/python3"),
      workspaceDir: this.dir,
      dataDir: this.dir,
      sandbox: null,
      timeBudgetSeconds: 120,
      signal: opts.signal,
      onProgress: (e) => opts.onProgress?.(progressUpdate(e)),
    });
    return trainOutcome(r);
  }
}

class NodeWithRuns extends FakeNode {
  readonly runs = new LiveRuns(this.stores.runs);
}

async function text(page: Page, testId: string): Promise<string> {
  return (await page.locator(`[data-testid="${testId}"]`).first().innerText()).trim();
}

async function waitForAttr(page: Page, selector: string, attr: string, value: string) {
  await page.waitForFunction(
    ({ sel, name, want }) =>
      (globalThis as unknown as {
        document: { querySelector(s: string): { getAttribute(n: string): string | null } | null };
      }).document.querySelector(sel)?.getAttribute(name) === want,
    { sel: selector, name: attr, want: value },
    { timeout: 60_000 },
  );
}

Deno.test({
  name: "e2e: progress chart and live run card in headless Chromium",
  ignore: !hasChromium,
  async fn(t) {
    await Deno.mkdir(OUTPUT_DIR, { recursive: true });
    await withNode(async (plain, dir) => {
      const node = new NodeWithRuns(plain.stores);
      const g = await seedGraph(node);
      const work = join(dir, "work");
      await Deno.mkdir(work);
      const ex = await startExplorer(node, { host: "127.0.0.1", port: 0 });
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
        const problems = watchProblems(page);
        await page.goto(ex.url);
        await page.waitForSelector("body[data-ready]");
        const chart = '[data-chart="progress"]';

        await t.step("the chart draws one point per record of its class", async () => {
          // This node's latest record (the seeded root) is on an H100: the chart shows that class.
          const h100 = g.all.filter((r) => r.gpu_model.includes("H100"));
          await waitForAttr(page, chart, "data-points", String(h100.length));
          const drawn = await page.evaluate(() => {
            const ui = (globalThis as unknown as {
              __spore: { chart: { plot: { data: (number | null)[][] } } };
            }).__spore.chart;
            // Series 2-4 are keep, discard, crash: every point is drawn in exactly one.
            return [2, 3, 4].map((i) => (ui.plot.data[i] ?? []).filter((v) => v !== null).length);
          });
          const count = (s: string) => h100.filter((r) => r.status === s).length;
          assert.deepEqual(drawn, [count("keep"), count("discard"), count("crash")]);
          assert.match(
            await text(page, "chart-note"),
            /5 experiments · 3 keep · 1 discard · 1 crash/,
          );
        });

        await t.step("a record arriving over the websocket adds a point", async () => {
          await page.waitForSelector("#live.on");
          const fresh = makeRecord({ parent: g.a2, key: 2, val_bpb: 0.95 });
          node.receive(fresh);
          await waitForAttr(page, chart, "data-points", "6");
          assert.match(await text(page, "chart-note"), /^6 experiments · 4 keep/);
          // The DAG's footer count follows too.
          await page.waitForFunction(() =>
            (globalThis as unknown as {
              document: { querySelector(s: string): { textContent: string } | null };
            })
              .document.querySelector(".dag-note")?.textContent === "7 records"
          );
        });

        await t.step(
          "the live run card shows the run's step and loss while it trains",
          async () => {
            const loop = new ResearchLoop({
              node,
              trainer: new StandinTrainer(work),
              keys: keyPairFromSeed(SEEDS[0]!),
              proposer: new MutatorProposer(seededRandom(1)),
              maxExperiments: 0,
            }).run();
            await page.waitForFunction(
              (want) =>
                (globalThis as unknown as {
                  document: { querySelector(s: string): { textContent: string } | null };
                }).document.querySelector('[data-testid="run-step"]')?.textContent === want,
              `${STEPS} / ${STEPS}`,
              { timeout: 60_000 },
            );
            assert.equal(await text(page, "run-label"), "baseline");
            assert.equal(await text(page, "run-loss"), (2 / STEPS).toFixed(4));
            assert.equal(await text(page, "run-phase"), "training");
            await page.locator('[data-testid="run-card"]').scrollIntoViewIfNeeded();
            await page.screenshot({ path: join(OUTPUT_DIR, "research-dashboard-training.png") });
            await Deno.writeTextFile(join(work, "release"), "");
            const summary = await loop;
            assert.equal(summary.baselinePublished, true, JSON.stringify(summary));
            await page.waitForSelector('[data-testid="run-card"][data-state="finished"]');
            const published = node.stores.graph.byNode(node.nodeId, 1)[0]!;
            assert.equal(published.val_bpb, 1.2345);
            assert.ok(
              await page.locator(`[data-testid="run-card"] a[href="#/experiment/${published.id}"]`)
                .count() > 0,
            );
          },
        );

        await t.step(
          "the experiment page shows the run's loss curve and downloads its code",
          async () => {
            const rec = node.stores.graph.byNode(node.nodeId, 1)[0]!;
            await page.goto(`${ex.url}#/experiment/${rec.id}`);
            await page.waitForSelector("body[data-ready]");
            await waitForAttr(page, '[data-testid="loss-curve"]', "data-points", String(STEPS));
            const href = await page.getAttribute('[data-testid="download"]', "href");
            assert.ok(href);
            const bytes = new Uint8Array(await (await fetch(href)).arrayBuffer());
            assert.equal(sha256Hex(bytes), rec.code_cid);
            // A CPU run: no VRAM figure and no GPU time budget on the page.
            const metrics = await page.locator(".metrics").innerText();
            assert.doesNotMatch(metrics, /VRAM|TIME BUDGET/i);
            await page.screenshot({
              path: join(OUTPUT_DIR, "research-experiment.png"),
              fullPage: true,
            });
          },
        );

        assert.deepEqual(problems, []);
      } finally {
        await browser.close();
        await ex.close();
      }
    });
  },
});
