/**
 * The UI's files in `static/`, read relative to this module so `deno compile --include static`
 * embeds and serves them. Only plain names below `static/` are served (no dot segments), with
 * a strict Content-Security-Policy set by the app for every response.
 * @module
 */
import { extname, join } from "node:path";

/** The directory holding the UI (repo root `static/`). */
export const STATIC_DIR: string = join(import.meta.dirname ?? ".", "..", "..", "static");

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

/** Segments made only of these characters, never starting with a dot. */
const SEGMENT_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/** A file ready to send. */
export interface StaticFile {
  body: Uint8Array;
  contentType: string;
}

/** Reads and caches static files; every request path is checked before touching the disk. */
export class StaticFiles {
  readonly #dir: string;
  readonly #cache = new Map<string, StaticFile | null>();

  constructor(dir: string = STATIC_DIR) {
    this.#dir = dir;
  }

  /**
   * The file for a URL path (`/` means `index.html`), or undefined when the path is not a
   * plain file name below the static dir, has an unknown type, or does not exist.
   */
  async get(urlPath: string): Promise<StaticFile | undefined> {
    const rel = urlPath === "/" || urlPath === "" ? "index.html" : urlPath.replace(/^\/+/, "");
    const segments = rel.split("/");
    if (segments.length > 4 || !segments.every((s) => SEGMENT_RE.test(s))) return undefined;
    const contentType = CONTENT_TYPES[extname(rel).toLowerCase()];
    if (!contentType) return undefined;
    const cached = this.#cache.get(rel);
    if (cached !== undefined) return cached ?? undefined;
    let file: StaticFile | null;
    try {
      file = { body: await Deno.readFile(join(this.#dir, ...segments)), contentType };
    } catch {
      file = null;
    }
    // Negative results are cached too, but only for the known set of names a probe can't grow.
    if (file !== null || this.#cache.size < 512) this.#cache.set(rel, file);
    return file ?? undefined;
  }
}
