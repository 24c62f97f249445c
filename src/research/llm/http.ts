/**
 * JSON-over-HTTPS POST with the retry rules every provider shares: per-attempt timeout,
 * exponential backoff on network errors / 408 / 429 / 5xx honoring `Retry-After`, immediate stop
 * on 401/403 and unknown models, and a cap on how much of a response is read.
 * @module
 */
import { LlmError } from "./types.ts";
import { safetyCatch } from "../../errors.ts";

/** Waits `ms`, rejecting early when `signal` fires. */
export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Injected I/O and limits; the defaults are the real network and clock. */
export interface HttpOptions {
  fetch?: typeof fetch;
  sleep?: SleepFn;
  /** Per-attempt timeout in milliseconds (default 120 s: long generations are normal). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 4). */
  maxRetries?: number;
  /** First backoff delay in milliseconds, doubled per retry (default 1000). */
  backoffMs?: number;
  /** Longest wait between attempts, Retry-After included (default 60 s). */
  maxDelayMs?: number;
  /** Largest response body read, in bytes (default 4 MiB). */
  maxResponseBytes?: number;
  /** In [0, 1); spreads retries of many nodes apart (default Math.random). */
  random?: () => number;
}

/** What one POST needs besides the options. */
export interface PostRequest {
  provider: string;
  model: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  signal?: AbortSignal | undefined;
}

/** The default sleep: a timer that an abort signal cancels. */
export const defaultSleep: SleepFn = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/**
 * Parse a `Retry-After` header (delta seconds or an HTTP date) into milliseconds from `nowMs`.
 * Undefined when absent or unparsable.
 */
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

/** Read at most `limit` bytes of a body; undefined when it is larger (the stream is cancelled). */
export async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array | undefined> {
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(safetyCatch);
        return undefined;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** The provider's error message from an error body (both APIs nest it under `error`). */
export function errorDetail(body: unknown): { message: string; code: string } {
  const err = (body as { error?: unknown })?.error;
  if (err && typeof err === "object") {
    const e = err as Record<string, unknown>;
    const message = typeof e.message === "string" ? e.message : "";
    const code = typeof e.code === "string" ? e.code : typeof e.type === "string" ? e.type : "";
    return { message: message.slice(0, 300), code: code.slice(0, 80) };
  }
  if (typeof err === "string") return { message: err.slice(0, 300), code: "" };
  return { message: "", code: "" };
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * POST `req.body` as JSON and return the parsed JSON reply of a 2xx response.
 * @throws LlmError of kind `auth`, `model`, `request`, `response`, `transient` or `aborted`.
 */
export async function postJson(req: PostRequest, opts: HttpOptions = {}): Promise<unknown> {
  const doFetch = opts.fetch ?? fetch;
  const sleep = opts.sleep ?? defaultSleep;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const maxRetries = opts.maxRetries ?? 4;
  const backoffMs = opts.backoffMs ?? 1000;
  const maxDelayMs = opts.maxDelayMs ?? 60_000;
  const maxBytes = opts.maxResponseBytes ?? 4 * 1024 * 1024;
  const random = opts.random ?? Math.random;
  const p = req.provider;
  let lastProblem = "";

  for (let attempt = 0; attempt <= maxRetries; attempt++) {
    if (req.signal?.aborted) throw new LlmError("aborted", p, `${p} request aborted`);
    let retryAfter: number | undefined;
    const signals = [AbortSignal.timeout(timeoutMs), ...(req.signal ? [req.signal] : [])];
    try {
      const res = await doFetch(req.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...req.headers },
        body: JSON.stringify(req.body),
        signal: AbortSignal.any(signals),
      });
      const bytes = await readLimited(res.body, maxBytes);
      if (bytes === undefined) {
        throw new LlmError(
          "response",
          p,
          `${p} sent a response larger than ${maxBytes} bytes; ignored`,
          res.status,
        );
      }
      const json = parseJson(bytes);
      if (res.ok) {
        if (json === undefined) {
          throw new LlmError("response", p, `${p} sent a reply that is not JSON`, res.status);
        }
        return json;
      }
      const { message, code } = errorDetail(json);
      const detail = message ? `: ${message}` : "";
      if (res.status === 401 || res.status === 403) {
        throw new LlmError(
          "auth",
          p,
          `${p} refused the API key (HTTP ${res.status}${detail}). ` +
            `Set a valid key with \`spore set ${p} <key>\`.`,
          res.status,
        );
      }
      if (res.status === 404 || /model_not_found|not_found_error/.test(code)) {
        throw new LlmError(
          "model",
          p,
          `${p} does not know model "${req.model}" or the endpoint ${req.url} ` +
            `(HTTP ${res.status}${detail}). Pick another model with ` +
            `\`spore set ${p} <key> --model <name>\`, or fix --base-url.`,
          res.status,
        );
      }
      if (!isRetryableStatus(res.status)) {
        throw new LlmError("request", p, `${p} rejected the request (HTTP ${res.status}${detail})`);
      }
      lastProblem = `HTTP ${res.status}${detail}`;
      retryAfter = parseRetryAfter(res.headers.get("retry-after"));
    } catch (e) {
      if (e instanceof LlmError) throw e;
      if (req.signal?.aborted) throw new LlmError("aborted", p, `${p} request aborted`);
      const err = e as Error;
      lastProblem = err?.name === "TimeoutError"
        ? `no answer within ${Math.round(timeoutMs / 1000)} s`
        : `network error: ${String(err?.message ?? e).slice(0, 200)}`;
    }
    if (attempt === maxRetries) break;
    const backoff = Math.min(maxDelayMs, backoffMs * 2 ** attempt * (1 + random() * 0.25));
    const delay = retryAfter !== undefined ? Math.min(maxDelayMs, retryAfter) : backoff;
    try {
      await sleep(delay, req.signal);
    } catch {
      throw new LlmError("aborted", p, `${p} request aborted`);
    }
  }
  throw new LlmError(
    "transient",
    p,
    `${p} is unavailable (${lastProblem}) after ${maxRetries + 1} attempts`,
  );
}
