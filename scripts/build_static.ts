/**
 * Vendor the explorer UI's browser libraries into `static/vendor/` from the npm packages pinned
 * below (downloaded into Deno's npm cache on first use), so the UI never loads anything from a
 * CDN and `deno compile --include static` embeds everything.
 *
 * Run: `deno run -A scripts/build_static.ts` (add `--check` to only verify the copies are current).
 * @module
 */
import { dirname, join } from "node:path";

/** Pinned packages and the files copied from each (minified browser builds and licenses). */
const PACKAGES = [
  { name: "cytoscape", version: "3.34.4", files: ["dist/cytoscape.min.js", "LICENSE"] },
  {
    // Bundles @dagrejs/dagre, so no separate layout package is needed in the page.
    name: "cytoscape-dagre",
    version: "4.0.1",
    files: ["dist/cytoscape-dagre.min.js", "LICENSE"],
  },
  {
    // The dashboard's progress chart: canvas-drawn, about 50 KB, no dependencies.
    name: "uplot",
    version: "1.6.32",
    files: ["dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE"],
  },
] as const;

const ROOT = join(import.meta.dirname ?? ".", "..");
const VENDOR = join(ROOT, "static", "vendor");

async function npmCacheDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { npmCache: string };
  return join(info.npmCache, "registry.npmjs.org");
}

async function ensureCached(): Promise<void> {
  const specs = PACKAGES.map((p) => `npm:${p.name}@${p.version}`);
  const out = await new Deno.Command(Deno.execPath(), { args: ["cache", ...specs] }).output();
  if (!out.success) throw new Error(`deno cache ${specs.join(" ")} failed`);
}

/** Copy (or with `check`, compare) every vendored file; returns the files that differ. */
async function vendor(check: boolean): Promise<string[]> {
  await ensureCached();
  const cache = await npmCacheDir();
  const stale: string[] = [];
  for (const pkg of PACKAGES) {
    for (const file of pkg.files) {
      const src = join(cache, pkg.name, pkg.version, file);
      const base = file.split("/").pop()!;
      const dest = join(VENDOR, base === "LICENSE" ? `${pkg.name}.LICENSE.txt` : base);
      const bytes = await Deno.readFile(src);
      let current: Uint8Array | undefined;
      try {
        current = await Deno.readFile(dest);
      } catch { /* not there yet */ }
      const same = current !== undefined && current.length === bytes.length &&
        current.every((b, i) => b === bytes[i]);
      if (same) continue;
      stale.push(dest);
      if (!check) {
        await Deno.mkdir(dirname(dest), { recursive: true });
        await Deno.writeFile(dest, bytes);
      }
    }
  }
  return stale;
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const stale = await vendor(check);
  if (check && stale.length > 0) {
    console.error(
      `static/vendor is out of date: ${stale.join(", ")}. Run deno run -A scripts/build_static.ts`,
    );
    Deno.exit(1);
  }
  console.log(
    check ? "static/vendor is current" : `static/vendor: ${stale.length} file(s) written`,
  );
}
