/**
 * The explorer's HTTP server: REST API, `/ws` live events and the UI, on `Deno.serve`.
 * Binds 127.0.0.1 unless told otherwise, on the first free port from the one asked for.
 * @module
 */
import { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import type { NodeHandle } from "../node_types.ts";
import { apiRoutes } from "./api.ts";
import { LiveHub, type LiveSocket } from "./live.ts";
import { ApiError } from "./params.ts";
import { StaticFiles } from "./static_files.ts";
import type { MetricsSource } from "../ops/node_metrics.ts";

/**
 * Sent with every response. The UI loads only its own scripts and styles, talks only to this
 * origin, and can never be framed; record text is untrusted and this is the second line of
 * defence behind the UI's textContent-only rendering.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Options of {@link createApp}. */
export interface AppOptions {
  /** Live-event hub; one is created when absent (it listens only while pages are connected). */
  hub?: LiveHub;
  /** Static files; defaults to the repo's `static/`. */
  files?: StaticFiles;
  /** Serves `/metrics` (Prometheus text) and `/healthz` when given. */
  metrics?: MetricsSource | undefined;
}

/** The explorer app for a node (also usable in-process with `app.request(...)`). */
export function createApp(node: NodeHandle, options: AppOptions = {}): Hono {
  const hub = options.hub ?? new LiveHub(node);
  const files = options.files ?? new StaticFiles();
  const app = new Hono();

  app.use("*", async (c, next) => {
    await next();
    c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("X-Frame-Options", "DENY");
  });

  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json({ error: err.message }, err.status);
    // A store failure is our problem, not the caller's; say so without leaking internals.
    console.error(`explorer: ${c.req.method} ${c.req.path}: ${err.stack ?? err}`);
    return c.json({ error: "internal error" }, 500);
  });

  const metrics = options.metrics;
  if (metrics) {
    app.get(
      "/metrics",
      (c) =>
        c.text(metrics.render(), 200, {
          "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
        }),
    );
    app.get("/healthz", (c) => {
      const h = metrics.health();
      return c.json(h, h.ok ? 200 : 503);
    });
  }

  app.route("/api", apiRoutes(node, { wsClients: () => hub.size }));

  app.get(
    "/ws",
    async (c, next) => {
      if (!sameOrigin(c.req.header("origin"), c.req.header("host"))) {
        return c.json({ error: "cross-origin WebSocket refused" }, 403);
      }
      if (!hub.canAccept()) return c.json({ error: "too many live clients" }, 503);
      await next();
    },
    upgradeWebSocket(() => {
      let socket: LiveSocket | undefined;
      return {
        onOpen(_evt, ws) {
          const raw = ws.raw as WebSocket | undefined;
          socket = {
            send: (data) => ws.send(data),
            close: (code, reason) => ws.close(code, reason),
            get bufferedAmount() {
              return raw?.bufferedAmount ?? 0;
            },
          };
          hub.add(socket);
        },
        onClose() {
          if (socket) hub.remove(socket);
        },
        onError() {
          if (socket) hub.remove(socket);
        },
        // Pages send nothing we act on; incoming messages are ignored.
      };
    }),
  );

  app.get("*", async (c) => {
    const file = await files.get(c.req.path);
    if (!file) return c.text("not found", 404);
    c.header("Cache-Control", "no-cache");
    return c.body(file.body.slice().buffer, 200, { "Content-Type": file.contentType });
  });
  return app;
}

/** Browsers send Origin on WebSocket upgrades; a page from another site must not attach. */
function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true; // not a browser (scripts, tests)
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** The explorer found no port it may listen on (the node runs on without it). */
export class ExplorerBindError extends Error {
  override name = "ExplorerBindError";
}

/** Options of {@link startExplorer}. */
export interface ExplorerOptions {
  /** Address to bind (127.0.0.1 keeps the explorer local). */
  host: string;
  /** First port to try; 0 asks the system for any free port. */
  port: number;
  /** How many consecutive ports to try when the first is taken (default 20). */
  portSearch?: number;
  /** Serves `/metrics` and `/healthz` when given. */
  metrics?: MetricsSource;
}

/** A running explorer. */
export interface RunningExplorer {
  port: number;
  url: string;
  /** Close live sockets and stop the server. */
  close(): Promise<void>;
}

/**
 * Serve the explorer for `node`, trying `port`, `port + 1`, ... until one is free.
 * @throws Error naming the range when every port tried is in use.
 */
export function startExplorer(node: NodeHandle, opts: ExplorerOptions): Promise<RunningExplorer> {
  const hub = new LiveHub(node);
  const app = createApp(node, { hub, metrics: opts.metrics });
  const tries = opts.port === 0 ? 1 : Math.max(1, opts.portSearch ?? 20);
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  for (let i = 0; i < tries && !server; i++) {
    const port = opts.port === 0 ? 0 : opts.port + i;
    if (port > 65535) break;
    try {
      server = Deno.serve({ hostname: opts.host, port, onListen: () => {} }, app.fetch);
    } catch (err) {
      if (err instanceof Deno.errors.PermissionDenied) {
        return Promise.reject(
          new ExplorerBindError(`explorer: not allowed to listen on ${opts.host}:${port}`),
        );
      }
      if (!(err instanceof Deno.errors.AddrInUse)) throw err;
    }
  }
  if (!server) {
    const last = Math.min(65535, opts.port + tries - 1);
    return Promise.reject(
      new ExplorerBindError(
        `explorer: ports ${opts.port}-${last} on ${opts.host} are all in use; pick another with --web-port`,
      ),
    );
  }
  const running = server;
  const port = running.addr.port;
  const shownHost = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return Promise.resolve({
    port,
    url: `http://${shownHost === "0.0.0.0" ? "127.0.0.1" : shownHost}:${port}/`,
    async close() {
      hub.close();
      await running.shutdown();
    },
  });
}
