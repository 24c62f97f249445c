/**
 * Structured node log: JSON lines in `<data>/log/spore.log`, rotated by size
 * (`spore.log.1` ... `spore.log.N`), filtered by level. The console stays concise; the file has
 * the detail (peer events, dropped messages with reasons, verification decisions).
 * @module
 */
import { join } from "node:path";
import { safetyCatch } from "../errors.ts";

/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Parse a level name (from `--log-level` or `SPORE_LOG`), with a clear error. */
export function parseLogLevel(text: string): LogLevel {
  const level = text.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new RangeError(`log level must be one of ${LOG_LEVELS.join(", ")}, got "${text}"`);
  }
  return level as LogLevel;
}

/** Options of a file logger. */
export interface FileLoggerOptions {
  /** Directory holding spore.log and its rotations. */
  dir: string;
  level?: LogLevel;
  /** Rotate when the file would exceed this many bytes (default 10 MiB). */
  maxBytes?: number;
  /** Rotated files kept (default 5). */
  keep?: number;
  /** Clock, injectable for tests. */
  now?: () => Date;
}

/** Something that accepts structured log entries. */
export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  close(): void;
}

const encoder = new TextEncoder();

/** A synchronous, size-rotated JSON-lines file logger. */
export class FileLogger implements Logger {
  readonly path: string;
  readonly #dir: string;
  readonly #min: number;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #now: () => Date;
  #file: Deno.FsFile | undefined;
  #size = 0;

  constructor(opts: FileLoggerOptions) {
    this.#dir = opts.dir;
    this.path = logFilePath(opts.dir);
    this.#min = LOG_LEVELS.indexOf(opts.level ?? "info");
    this.#maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.#keep = Math.max(1, opts.keep ?? 5);
    this.#now = opts.now ?? (() => new Date());
    Deno.mkdirSync(this.#dir, { recursive: true });
    this.#open();
  }

  #open(): void {
    this.#file = Deno.openSync(this.path, { append: true, create: true, mode: 0o600 });
    this.#size = this.#file.statSync().size;
  }

  #rotate(): void {
    this.#file?.close();
    for (let i = this.#keep - 1; i >= 1; i--) {
      try {
        Deno.renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    Deno.renameSync(this.path, `${this.path}.1`);
    try {
      Deno.removeSync(`${this.path}.${this.#keep + 1}`);
    } catch (e) {
      safetyCatch(e);
      // nothing beyond the kept count
    }
    this.#open();
  }

  /**
   * Append one entry when its level passes the filter. Never throws for I/O (a full disk); a
   * field JSON cannot encode (a BigInt, a cycle) is a bug and throws.
   */
  log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (LOG_LEVELS.indexOf(level) < this.#min || !this.#file) return;
    try {
      const line = encoder.encode(
        JSON.stringify({ ts: this.#now().toISOString(), level, msg, ...fields }) + "\n",
      );
      if (this.#size > 0 && this.#size + line.length > this.#maxBytes) this.#rotate();
      this.#file.writeSync(line);
      this.#size += line.length;
    } catch (e) {
      safetyCatch(e);
      // A full disk must not take the node down with it; the console still reports errors.
    }
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.log("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.log("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.log("error", msg, fields);
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}

/**
 * The logger of one component (`net`, `net:dial`, `verify`...): every entry carries
 * `part: component`, so one log file can be filtered per component (js-libp2p keeps a logger
 * per component the same way).
 */
export function componentLogger(base: Logger, component: string): Logger {
  // close() is a no-op: the base logger belongs to whoever made it.
  return loggerOf((level, msg, fields) => base.log(level, msg, { part: component, ...fields }));
}

/** A {@link Logger} whose level methods all go to one `log` function. */
export function loggerOf(log: Logger["log"], close: () => void = () => {}): Logger {
  return {
    log,
    debug: (msg, fields) => log("debug", msg, fields),
    info: (msg, fields) => log("info", msg, fields),
    warn: (msg, fields) => log("warn", msg, fields),
    error: (msg, fields) => log("error", msg, fields),
    close,
  };
}

/** A logger that drops everything (tests, commands without a data dir). */
export const nullLogger: Logger = {
  log() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  close() {},
};

/** The current log file in log directory `dir` (rotations add `.1` ... `.N`). */
export function logFilePath(dir: string): string {
  return join(dir, "spore.log");
}

/** Last `n` lines of the node log (across the newest rotation when the file is short). */
export async function tailLog(dir: string, n: number): Promise<string[]> {
  const path = logFilePath(dir);
  const lines: string[] = [];
  for (const p of [path, `${path}.1`]) {
    try {
      const text = await Deno.readTextFile(p);
      lines.unshift(...text.split("\n").filter((l) => l !== ""));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (lines.length >= n) break;
  }
  return lines.slice(-n);
}

/**
 * One log line for a person: `2026-12-01 09:12:03.123 WARN  message key=value ...`. A line that
 * is not a JSON entry of ours (a crash message, a foreign line) is shown as it is.
 */
export function formatLogLine(line: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch (e) {
    if (e instanceof SyntaxError) return line;
    throw e;
  }
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return line;
  const { ts, level, msg, ...fields } = entry as Record<string, unknown>;
  if (typeof ts !== "string" || typeof level !== "string" || typeof msg !== "string") return line;
  const when = ts.replace("T", " ").replace(/Z$/, "");
  const rest = Object.entries(fields).map(([k, v]) =>
    `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`
  );
  return [when, level.toUpperCase().padEnd(5), msg, ...rest].join(" ");
}
