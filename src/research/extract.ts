/**
 * Pull the proposal out of an LLM reply: the fenced code block holding the full train.py, plus a
 * one-line description and the hypothesis. The reply is untrusted text of any size and content.
 * @module
 */

/** Longest reply text looked at; anything after is ignored. */
export const MAX_REPLY_CHARS = 1_000_000;
/** Longest description kept (it goes into a signed record and onto terminals). */
export const MAX_DESCRIPTION = 300;
/** Longest hypothesis kept. */
export const MAX_HYPOTHESIS = 800;

/** What a reply contained. */
export interface ParsedReply {
  /** The chosen code block's text, undefined when the reply has none. */
  code?: string | undefined;
  description: string;
  hypothesis: string;
}

const FENCE = /(^|\n)[ \t]*(```|~~~)[ \t]*([\w+.-]*)[^\n]*\n([\s\S]*?)\n[ \t]*\2[ \t]*(?=\n|$)/g;

/** One-line, printable, bounded text for records and terminals. */
export function cleanLine(text: string, max: number): string {
  const one = text
    // deno-lint-ignore no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return one.length > max ? one.slice(0, max - 1) + "…" : one;
}

function labelled(text: string, label: string): string | undefined {
  // Accepts `Description: x`, `**Description:** x`, `## Description: x`, `- hypothesis - x`.
  const re = new RegExp(
    `^[ \\t>#*_-]*${label}[ \\t*_]*[:\\-–][ \\t*_]*(.+)$`,
    "im",
  );
  const m = re.exec(text);
  return m?.[1]?.replace(/[*_`]+$/g, "");
}

/**
 * Parse a reply. The code block is the longest `python`/`py` fenced block, else the longest
 * unlabelled one; without a label such as `Description:`, the first prose line describes it.
 */
export function parseReply(reply: string): ParsedReply {
  const text = reply.length > MAX_REPLY_CHARS ? reply.slice(0, MAX_REPLY_CHARS) : reply;
  let python: string | undefined;
  let plain: string | undefined;
  for (const m of text.matchAll(FENCE)) {
    // Groups 3 and 4 are not optional (they may match empty text): a match sets both.
    const lang = m[3]!.toLowerCase();
    const body = m[4]!;
    if (lang === "python" || lang === "py" || lang === "python3") {
      if (python === undefined || body.length > python.length) python = body;
    } else if (lang === "") {
      if (plain === undefined || body.length > plain.length) plain = body;
    }
  }
  const code = python ?? plain;
  const prose = text.replace(FENCE, "\n").replace(/[\u2028\u2029\u0085]/g, " ");
  const firstLine = prose.split("\n").map((l) => l.replace(/^[#>*\s-]+/, "").trim()).find((l) =>
    l.length > 0
  );
  return {
    code: code === undefined ? undefined : code.replace(/\r\n/g, "\n") + "\n",
    description: cleanLine(labelled(prose, "description") ?? firstLine ?? "", MAX_DESCRIPTION),
    hypothesis: cleanLine(labelled(prose, "hypothesis") ?? "", MAX_HYPOTHESIS),
  };
}
