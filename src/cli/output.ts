/**
 * Terminal output: colors and tables on a TTY, plain text otherwise, JSON for scripts.
 * @module
 */
import { type ExperimentRecord, recordJson } from "../protocol/mod.ts";

/** True when stdout is a terminal and NO_COLOR is unset. */
export function useColor(): boolean {
  try {
    return Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  } catch {
    return false;
  }
}

const CODES = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36 };

/** Wrap text in an ANSI style when color is on. */
export function style(name: keyof typeof CODES, text: string): string {
  return useColor() ? `\x1b[${CODES[name]}m${text}\x1b[0m` : text;
}

/** Color for an experiment status. */
export function statusStyle(status: string): string {
  return status === "keep"
    ? style("green", status)
    : status === "crash"
    ? style("red", status)
    : style("yellow", status);
}

// deno-lint-ignore no-control-regex -- stripping ANSI escapes needs the ESC character
const ANSI_RE = /\x1b\[[0-9;]*m/g;

/** Visible width of a string (ANSI escapes excluded). */
export function visibleWidth(s: string): number {
  return s.replace(ANSI_RE, "").length;
}

/** Render rows as an aligned table with a header line. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) =>
    Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? "")))
  );
  // Cells beyond the header's columns get no padding.
  const pad = (c: string, i: number) => " ".repeat(Math.max(0, (widths[i] ?? 0) - visibleWidth(c)));
  const line = (cells: string[]) => cells.map((c, i) => c + pad(c, i)).join("  ").trimEnd();
  return [line(headers.map((h) => style("bold", h))), ...rows.map(line)].join("\n");
}

/**
 * Print signed records as a JSON array, one record per line, each exactly as signed
 * (`JSON.stringify` would print `-0.0` as `0`, and the record would no longer verify).
 */
export function printRecordsJson(records: ExperimentRecord[]): void {
  console.log(records.length ? `[\n  ${records.map(recordJson).join(",\n  ")}\n]` : "[]");
}

/** Print a value as pretty JSON (for `--json`). */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Make untrusted text safe for one terminal line: no control characters or escapes. */
export function safeText(s: string, max = 80): string {
  // deno-lint-ignore no-control-regex -- removing control characters is the point
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
  return clean.length > max ? clean.slice(0, max - 1) + "…" : clean;
}

export { shortId } from "../protocol/short_id.ts";

/** Format a val_bpb for humans. */
export function bpb(x: number | null | undefined): string {
  return x === null || x === undefined ? "-" : x.toFixed(6);
}
