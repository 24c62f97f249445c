/**
 * What `spore run` prints while it runs. On a terminal: one live line at the bottom, rewritten in
 * place, with the training progress and the network status side by side (cut to the terminal's
 * width), and every other message printed above it, never glued to it. Elsewhere (a pipe, a log
 * file under `spore start`): plain lines, no `\r`, training progress at phase changes, every 10%
 * and at most every {@link PLAIN_PROGRESS_MS}.
 * @module
 */

/** Least time between two plain (non-terminal) progress lines of one run. */
export const PLAIN_PROGRESS_MS = 30_000;

/** Where a status line writes. */
export interface StatusLineOptions {
  /** Rewrite one live line (a terminal) or print plain lines. */
  tty: boolean;
  /** A whole line (a newline is added). */
  print: (line: string) => void;
  /** Raw text on a terminal (the live line's control sequences). */
  write?: (text: string) => void;
  /** The terminal's width. */
  columns?: () => number;
  /** Milliseconds clock. */
  now?: () => number;
}

/** A run's progress, as the status line shows it. */
export interface RunProgress {
  /** e.g. "baseline", "experiment 3/10", "verify ab12cd34". */
  label: string;
  /** The rendered progress (bar, step, loss, ETA). */
  text: string;
  phase: "starting" | "training" | "evaluating" | "done";
  /** 0-100 while training. */
  percent?: number | undefined;
}

const encoder = new TextEncoder();

/** Width assumed when the terminal does not say (`script` and some containers report 0 x 0). */
const UNKNOWN_COLUMNS = 100;

/** The terminal's width in columns, or {@link UNKNOWN_COLUMNS} when it reports none. */
export function terminalColumns(size: () => { columns: number } = Deno.consoleSize): number {
  try {
    const columns = size().columns;
    return columns > 0 ? columns : UNKNOWN_COLUMNS;
  } catch {
    return UNKNOWN_COLUMNS;
  }
}

/** The bottom line of `spore run`; see the module doc. */
export class StatusLine {
  readonly #o: Required<StatusLineOptions>;
  #progress = "";
  #network = "";
  #shown = false;
  #plain = { label: "", phase: "", decile: -1, at: -Infinity };

  constructor(opts: StatusLineOptions) {
    this.#o = {
      write: (t) => Deno.stdout.writeSync(encoder.encode(t)),
      columns: terminalColumns,
      now: () => performance.now(),
      ...opts,
    };
  }

  /** Print a message line (above the live line on a terminal). */
  readonly log = (line: string): void => {
    if (!this.#o.tty) return this.#o.print(line);
    this.#clear();
    this.#o.print(line);
    this.#redraw();
  };

  /** Show a run's progress; `undefined` when no run is in progress. */
  progress(p: RunProgress | undefined): void {
    if (this.#o.tty) {
      this.#progress = p && p.phase !== "done" ? `[${p.label}] ${p.text}` : "";
      return this.#redraw();
    }
    if (!p) return;
    const now = this.#o.now();
    const decile = Math.floor((p.percent ?? 0) / 10);
    const st = this.#plain;
    const changed = p.label !== st.label || p.phase !== st.phase;
    if (!changed && decile <= st.decile && now - st.at < PLAIN_PROGRESS_MS) return;
    this.#plain = { label: p.label, phase: p.phase, decile, at: now };
    this.#o.print(`  [${p.label}] ${p.text}`);
  }

  /** Show the network status (the live line on a terminal; a plain line otherwise). */
  network(text: string): void {
    if (!this.#o.tty) return this.#o.print(text);
    this.#network = text;
    this.#redraw();
  }

  /** Leave the terminal with no live line (before the last messages of a run). */
  close(): void {
    if (!this.#o.tty) return;
    this.#clear();
    this.#progress = this.#network = "";
  }

  #clear(): void {
    if (!this.#shown) return;
    this.#o.write("\r\x1b[2K");
    this.#shown = false;
  }

  #redraw(): void {
    const text = [this.#progress, this.#network].filter((t) => t !== "").join("  ·  ");
    this.#clear();
    if (text === "") return;
    // One column short of the width: writing the last column wraps on some terminals.
    const max = Math.max(10, this.#o.columns() - 1);
    const line = text.length > max ? text.slice(0, max - 1) + "…" : text;
    this.#o.write(line);
    this.#shown = true;
  }
}
