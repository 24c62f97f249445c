/**
 * Seeing the research in the explorer (issue 18), in headless Chromium: the progress chart draws
 * one point per seeded record of its class and gains one when a record arrives over /ws; the
 * live run card shows a real training process's step and loss while it runs (a stand-in
 * train.py run by the training runner, progress parsed from its output), then its result; a
 * verification rerun of another node's experiment shows on the same card with the claim it
 * checks, its step and loss, then the verifier's verdict; the experiment page shows that run's
 * loss curve and downloads its exact train.py, and for code this node does not hold, says how
 * to get it instead of offering a link that would fail. Screenshots go to
 * test-output/research-*.png.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { CHROMIUM, hasChromium, launchChromium, watchProblems } from "./browser.ts";
import { startExplorer } from "../../src/explorer/server.ts";
import { keyPairFromSeed, sha256Hex, shortId } from "../../src/protocol/mod.ts";
import { Verifier } from "../../src/verify/mod.ts";
import { LiveRuns } from "../../src/research/live_run.ts";
import { ResearchLoop } from "../../src/research/loop.ts";
import { MutatorProposer, seededRandom } from "../../src/research/mutator.ts";
import { runTraining } from "../../src/training/runner.ts";
import { progressUpdate, trainOutcome } from "../../src/training/trainer.ts";
import { fakePython } from "../training/fake_python.ts";
import type { Trainer, TrainOutcome, TrainProgressUpdate } from "../../src/node_types.ts";
import { FakeNode, makeRecord, NODE_IDS, seedGraph, SEEDS, withNode } from "../explorer/helpers.ts";

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

/** Wait until the element with `testId` reads `want`. */
async function waitForText(page: Page, testId: string, want: string): Promise<void> {
  await page.waitForFunction(
    ({ id, text }) =>
      (globalThis as unknown as {
        document: { querySelector(s: string): { textContent: string } | null };
      }).document.querySelector(`[data-testid="${id}"]`)?.textContent === text,
    { id: testId, text: want },
    { timeout: 60_000 },
  );
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
            await waitForText(page, "run-step", `${STEPS} / ${STEPS}`);
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
          "a verification rerun shows on the card: claim, step and loss, then the verdict",
          async () => {
            // Another CPU node's experiment of this workspace, its code the stand-in.
            const code = new TextEncoder().encode(STANDIN);
            node.remoteArtifacts.set(sha256Hex(code), code);
            const theirs = makeRecord({
              key: 1,
              code_cid: sha256Hex(code),
              dataset_cid: "d".repeat(64),
              prepare_cid: "e".repeat(64),
              gpu_model: "CPU",
              val_bpb: 1.2345,
              description: "their wider MLP",
            });
            await Deno.remove(join(work, "release")); // the rerun waits again before its result
            const verifier = Verifier.open(dir, {
              nodeId: node.nodeId,
              seed: SEEDS[0]!,
              graph: node.stores.graph,
              reputation: node.stores.reputation,
              control: node.stores.control,
              trainer: new StandinTrainer(work),
              fetchCode: (cid) => node.fetchArtifact(cid),
              broadcast: () => {},
              spotCheckRate: 1,
              random: () => 0,
              runs: node.runs,
            });
            try {
              await verifier.start();
              node.receive(theirs);
              verifier.onRecord(theirs, "peer");
              // The card first shows the finished baseline: wait for the rerun, then its last step.
              await waitForText(
                page,
                "run-label",
                `verifying ${shortId(theirs.id)} from ${shortId(NODE_IDS[1]!)}`,
              );
              await waitForText(page, "run-step", `${STEPS} / ${STEPS}`);
              assert.equal(await text(page, "run-loss"), (2 / STEPS).toFixed(4));
              assert.equal(await text(page, "run-claimed"), "1.2345");
              assert.equal(await text(page, "run-phase"), "training");
              const card = page.locator('[data-testid="run-card"]');
              assert.match(await card.innerText(), /verification/);
              assert.match(await card.innerText(), /their wider MLP/);
              await card.scrollIntoViewIfNeeded();
              await page.screenshot({ path: join(OUTPUT_DIR, "research-verifying.png") });
              await Deno.writeTextFile(join(work, "release"), "");
              await verifier.idle();
              await page.waitForSelector('[data-testid="run-card"][data-state="finished"]');
              const verdict = await text(page, "run-verdict");
              assert.match(
                verdict,
                /^verified rerun 1\.2345 vs claimed 1\.2345 \(within tolerance\)/,
              );
              assert.match(verdict, /signed verification sent to peers/);
              await page.screenshot({ path: join(OUTPUT_DIR, "research-verified.png") });
            } finally {
              await verifier.close();
            }
            // The rerun's curve is not this node's run of that experiment.
            assert.equal(node.stores.runs.get(theirs.id), undefined);
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

        await t.step(
          "code a peer holds: the page fetches it, and then offers the download",
          async () => {
            const code = new TextEncoder().encode("print('held by a peer')\n");
            node.remoteArtifacts.set(sha256Hex(code), code);
            const rec = makeRecord({ key: 3, code_cid: sha256Hex(code), val_bpb: 1.4 });
            node.receive(rec);
            const before = await (await fetch(`${ex.url}api/experiment/${rec.id}`)).json();
            assert.equal(before.code_available, false, "not held before the page asks for it");
            await page.goto(`${ex.url}#/experiment/${rec.id}`);
            // This page's code, fetched from the peer (the previous page also had a link).
            await page.locator('[data-testid="code"]', { hasText: "held by a peer" }).waitFor();
            await page.waitForSelector('[data-testid="download"]');
            assert.equal(await page.locator('[data-testid="download-hint"]').count(), 0);
            const href = await page.getAttribute('[data-testid="download"]', "href");
            const bytes = new Uint8Array(await (await fetch(href!)).arrayBuffer());
            assert.equal(sha256Hex(bytes), rec.code_cid);
          },
        );

        assert.deepEqual(problems, []);

        await t.step(
          "code this node does not hold: a checkout hint instead of a link that would fail",
          async () => {
            const missing = makeRecord({ key: 2, code_cid: "7".repeat(64), val_bpb: 1.5 });
            node.receive(missing);
            await page.goto(`${ex.url}#/experiment/${missing.id}`);
            await page.waitForSelector('[data-testid="download-hint"]');
            assert.equal(
              await text(page, "download-hint"),
              `code not held here: spore checkout ${shortId(missing.id)} fetches it from peers`,
            );
            // The page still asks the peers for the code (none has it) and shows no link.
            await page.waitForFunction(() =>
              /no connected peer has it/.test(
                (globalThis as unknown as { document: { body: { innerText: string } } }).document
                  .body.innerText,
              )
            );
            assert.equal(await page.locator('[data-testid="download"]').count(), 0);
            await page.locator('[data-testid="download-hint"]').scrollIntoViewIfNeeded();
            await page.screenshot({ path: join(OUTPUT_DIR, "research-code-missing.png") });
            // That one asked-for artifact is the only failed request.
            assert.equal(problems.length, 1, problems.join("\n"));
            assert.match(problems[0]!, /404/);
          },
        );
      } finally {
        await browser.close();
        await ex.close();
      }
    });
  },
});
