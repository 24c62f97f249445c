import assert from "node:assert/strict";
import { hasChromium, launchChromium } from "./browser.ts";
import { startExplorer } from "../../src/explorer/server.ts";
import { startNode, waitFor } from "../net/helpers.ts";

Deno.test({
  name: "explorer header: 0 peers in the warning colour, the dial error on hover",
  ignore: !hasChromium,
  async fn() {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closed = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
    l.close();
    const n = await startNode({ peers: [closed] });
    const ex = await startExplorer(n.node, { host: "127.0.0.1", port: 0 });
    const browser = await launchChromium();
    try {
      await waitFor(() => n.node.network.dialFailures().length > 0, "a failed dial");
      const stat = await (await fetch(`${ex.url}api/stat`)).json();
      assert.equal(stat.peer_count, 0);
      assert.ok(stat.network.last_errors.some((e: { address: string }) => e.address === closed));
      const page = await browser.newPage({ viewport: { width: 1280, height: 400 } });
      await page.goto(ex.url);
      const peers = page.locator(".stat-warn");
      await peers.waitFor({ timeout: 20_000 });
      assert.equal(await peers.locator("b").textContent(), "0");
      const title = await peers.getAttribute("title");
      assert.match(title!, new RegExp(`no peers connected\\n${closed}: connection refused`));
      assert.match(title!, /spore connect HOST:PORT/);
      const colour = await peers.locator("b").evaluate((b) =>
        (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } })
          .getComputedStyle(b).color
      );
      assert.equal(colour, "rgb(210, 153, 34)"); // --discard, the warning colour
      if (Deno.env.get("SPORE_SCREENSHOT")) {
        await page.screenshot({ path: Deno.env.get("SPORE_SCREENSHOT")! });
      }
    } finally {
      await browser.close();
      await ex.close();
      await n.stop();
    }
  },
});
