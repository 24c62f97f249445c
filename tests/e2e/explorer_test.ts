/**
 * The explorer UI in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * frontier table, DAG click to detail with diff, live updates without reload, experiment, node
 * and search pages, and no console errors (CSP violations included). Screenshots go to
 * test-output/explorer-*.png.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { CHROMIUM, hasChromium, launchChromium, watchProblems } from "./browser.ts";
import { startExplorer } from "../../src/explorer/server.ts";
import { makeRecord, NODE_IDS, seedGraph, withNode } from "../explorer/helpers.ts";

if (!hasChromium) {
  console.warn(`skipping browser tests: ${CHROMIUM} not found (apt-get install chromium)`);
}

/** Where screenshots go (gitignored). */
const OUTPUT_DIR = join(import.meta.dirname ?? ".", "..", "..", "test-output");

/** The little of the DOM the page callbacks use (tests are type-checked without DOM types). */
interface BrowserDocument {
  querySelector(
    selector: string,
  ): { getAttribute(name: string): string | null; textContent: string | null } | null;
}

/** Page callbacks run in the browser from their own source only, so each one casts inline. */
type PageGlobals = {
  document: BrowserDocument;
  /** The UI's test hook (static/app.js): the dashboard's Cytoscape instance. */
  __spore: {
    cy: {
      getElementById(id: string): {
        renderedPosition(): { x: number; y: number };
        hasClass(name: string): boolean;
      };
      container(): { getBoundingClientRect(): { left: number; top: number } };
    };
  };
};

/** Click a DAG node where Cytoscape drew it (a real mouse click on the canvas). */
/**
 * Click a DAG node with the mouse, as a person does, until its detail opens. The position is read
 * just before each click; a panel above the DAG that finishes loading (the progress chart) can
 * still move it between the read and the click on a loaded machine, so a missed click is retried.
 */
async function clickDagNode(page: Page, id: string): Promise<void> {
  for (let attempt = 1;; attempt++) {
    // The DAG sits below the progress chart: bring it into the viewport first.
    await page.locator('[data-testid="dag"]').scrollIntoViewIfNeeded();
    const pos = await page.evaluate((nodeId) => {
      const cy = (globalThis as unknown as PageGlobals).__spore.cy;
      const p = cy.getElementById(nodeId).renderedPosition();
      const box = cy.container().getBoundingClientRect();
      return { x: box.left + p.x, y: box.top + p.y };
    }, id);
    await page.mouse.click(pos.x, pos.y);
    const opened = page.locator(`[data-testid="detail"][data-id="${id}"]`);
    try {
      await opened.waitFor({ state: "visible", timeout: 5_000 });
      return;
    } catch (e) {
      if (attempt >= 4) throw e;
    }
  }
}

async function rowIds(page: Page, testId: string): Promise<string[]> {
  return await page.$$eval(
    `[data-testid="${testId}"] tbody tr`,
    (rows) => rows.map((r) => r.getAttribute("data-id") ?? ""),
  );
}

Deno.test({
  name: "e2e: explorer UI in headless Chromium",
  ignore: !hasChromium,
  async fn(t) {
    await Deno.mkdir(OUTPUT_DIR, { recursive: true });
    await withNode(async (node) => {
      const g = await seedGraph(node);
      // Published by Bob (key 2) while the page is open.
      const fresh = makeRecord({
        parent: g.a2,
        key: 2,
        val_bpb: 0.95,
        description: "live: rotary embeddings",
        diff: "--- a/train.py\n+++ b/train.py\n@@ -9 +9 @@\n-pos = 'abs'\n+pos = 'rope'\n",
      });
      const ex = await startExplorer(node, { host: "127.0.0.1", port: 0 });
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
        const problems = watchProblems(page);
        await page.goto(ex.url);
        await page.waitForSelector("body[data-ready]");

        await t.step("the frontier table lists the frontier, best first", async () => {
          assert.deepEqual(await rowIds(page, "frontier-table"), g.frontier);
          const first = page.locator('[data-testid="frontier-table"] tbody tr').first();
          assert.match(await first.innerText(), /0\.9800/);
          assert.equal(await page.locator('[data-testid="stat-count"]').innerText(), "6");
          await page.screenshot({ path: join(OUTPUT_DIR, "explorer-dashboard.png") });
        });

        await t.step("clicking a DAG node opens its detail with the colored diff", async () => {
          await clickDagNode(page, g.a1.id);
          const detail = page.locator('[data-testid="detail"]');
          await detail.waitFor({ state: "visible" });
          assert.equal(await detail.getAttribute("data-id"), g.a1.id);
          await page.locator('[data-testid="detail"] [data-testid="diff"]').waitFor();
          const added = await page.locator('[data-testid="detail"] .d-add').allInnerTexts();
          assert.deepEqual(added.map((s) => s.trim()), ["+lr = 0.02"]);
          const removed = await page.locator('[data-testid="detail"] .d-del').allInnerTexts();
          assert.deepEqual(removed.map((s) => s.trim()), ["-lr = 0.01"]);
          assert.match(await detail.innerText(), /raise learning rate/);
          await page.screenshot({ path: join(OUTPUT_DIR, "explorer-dag-detail.png") });
        });

        await t.step("an experiment gossiped in appears without a reload", async () => {
          await page.waitForSelector("#live.on");
          node.receive(fresh);
          await page.locator(`[data-testid="feed"] li[data-id="${fresh.id}"]`).waitFor();
          assert.match(
            await page.locator(`[data-testid="feed"] li[data-id="${fresh.id}"]`).innerText(),
            /0\.9500/,
          );
          // The frontier table and the DAG follow: the new record replaces its parent.
          await page.waitForFunction(
            (id) =>
              (globalThis as unknown as PageGlobals).document
                .querySelector('[data-testid="frontier-table"] tbody tr')
                ?.getAttribute("data-id") === id,
            fresh.id,
          );
          assert.deepEqual(await rowIds(page, "frontier-table"), [fresh.id, g.rtx.id]);
          const inDag = await page.evaluate(
            (id) =>
              (globalThis as unknown as PageGlobals).__spore.cy.getElementById(id).hasClass(
                "frontier",
              ),
            fresh.id,
          );
          assert.equal(inDag, true);
          await page.waitForFunction(() =>
            (globalThis as unknown as PageGlobals).document
              .querySelector('[data-testid="stat-count"]')?.textContent === "7"
          );
          await page.screenshot({ path: join(OUTPUT_DIR, "explorer-live.png") });
        });

        await t.step(
          "the experiment page shows fields, lineage, verification and code",
          async () => {
            await page.goto(`${ex.url}#/experiment/${g.a1.id}`);
            await page.waitForSelector('[data-testid="experiment-page"]');
            await page.waitForSelector('[data-testid="code"]');
            const text = await page.locator('[data-testid="experiment-page"]').innerText();
            for (
              const s of [
                "raise learning rate",
                "a higher LR converges faster",
                g.a1.signature,
                "climbmix-400b-shuffle",
              ]
            ) {
              assert.ok(text.includes(s), `page shows ${s.slice(0, 30)}`);
            }
            assert.equal(await page.locator('[data-testid="verified"]').innerText(), "verified");
            assert.match(await page.locator('[data-testid="events"]').innerText(), /verification/);
            const lineage = await page.locator('[data-testid="lineage"] li').allInnerTexts();
            assert.equal(lineage.length, 2);
            assert.match(lineage[0]!, /1\.1000/);
            assert.match(lineage[1]!, /1\.0500/);
            assert.match(await page.locator('[data-testid="code"]').innerText(), /import torch/);
            // A display name with markup is shown as text, never parsed.
            assert.ok(text.includes("Alice <script>x</script>"));
            assert.equal(await page.locator("main script").count(), 0);
            await page.screenshot({
              path: join(OUTPUT_DIR, "explorer-experiment.png"),
              fullPage: true,
            });
          },
        );

        await t.step(
          "the node page shows profile, donation, reputation and experiments",
          async () => {
            await page.goto(`${ex.url}#/node/${NODE_IDS[1]}`);
            await page.waitForSelector('[data-testid="node-page"] table');
            assert.equal(
              await page.locator('[data-testid="node-name"]').innerText(),
              "Alice <script>x</script>",
            );
            assert.match(
              await page.locator('[data-testid="donation"]').innerText(),
              /bc1qexample1/,
            );
            const ids = await page.$$eval(
              '[data-testid="node-page"] tbody tr',
              (rows) => rows.map((r) => r.getAttribute("data-id")),
            );
            assert.deepEqual(ids, [g.a2.id, g.a1.id]);
            await page.screenshot({ path: join(OUTPUT_DIR, "explorer-node.png") });
          },
        );

        await t.step("the search box finds by display name", async () => {
          await page.goto(ex.url);
          await page.waitForSelector("body[data-ready]");
          await page.fill("#q", "bob");
          await page.press("#q", "Enter");
          await page.waitForSelector('[data-testid="search-results"]');
          const ids = await rowIds(page, "search-results");
          assert.deepEqual(new Set(ids), new Set([g.b1.id, g.c1.id, fresh.id]));
          await page.screenshot({ path: join(OUTPUT_DIR, "explorer-search.png") });
        });

        assert.deepEqual(problems, [], "no console errors or CSP violations");
      } finally {
        await browser.close();
        await ex.close();
      }
    });
  },
});
