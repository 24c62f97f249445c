/**
 * Launching Debian's Chromium through playwright-core for the browser tests, under the project's
 * test permissions (read, write, net, env, run, sys; not --allow-all).
 */
import type { Browser, Page } from "playwright-core";

/** The system browser the tests drive (never a downloaded one). */
export const CHROMIUM = "/usr/bin/chromium";

/** True when the system Chromium is installed; browser tests are skipped otherwise. */
export const hasChromium: boolean = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** Flags used for every headless run. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Launch headless Chromium. */
export async function launchChromium(): Promise<Browser> {
  // playwright-core's bundled `is-wsl` probes /proc/sys/fs/binfmt_misc when first loaded, a path
  // Deno only lets --allow-all read. Its own test switch skips the probe; the flag only feeds
  // the "open a URL in the OS browser" helper, which launching Chromium never uses.
  Deno.env.set("__IS_WSL_TEST__", "1");
  const { chromium } = await import("playwright-core");
  return await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Collect the page's console errors and warnings (CSP violations included) and page errors. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  return problems;
}
