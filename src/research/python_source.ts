/**
 * Just enough Python lexing for policy checks: blank out comments and plain string literals so
 * a forbidden name inside a docstring or comment is not a violation, while f-strings keep their
 * text (their `{...}` parts are code that runs).
 * @module
 */

/**
 * Return `code` with comments removed and the contents of non-f string literals emptied
 * (`"..."` becomes `""`). Line structure is kept, so line-anchored patterns still work.
 */
export function stripCommentsAndStrings(code: string): string {
  let out = "";
  let i = 0;
  const n = code.length;
  while (i < n) {
    const ch = code.charAt(i);
    if (ch === "#") {
      while (i < n && code[i] !== "\n") i++;
      continue;
    }
    // A string prefix only counts at the start of a token (not inside a name like `attr"`).
    const prev = code.charAt(i - 1); // "" at the start
    if ((ch === "'" || ch === '"' || /[rRbBuUfF]/.test(ch)) && !/[A-Za-z0-9_]/.test(prev)) {
      const m = /^([rRbBuUfF]{0,2})('''|"""|'|")/.exec(code.slice(i, i + 5));
      if (m) {
        // Both groups are not optional (the prefix may be empty): a match sets both.
        const isF = /[fF]/.test(m[1]!);
        const quote = m[2]!;
        let j = i + m[0].length;
        while (j < n) {
          // Even in raw strings a backslash keeps the next quote from closing the literal.
          if (code[j] === "\\") {
            j += 2;
            continue;
          }
          if (code.startsWith(quote, j)) break;
          if (quote.length === 1 && code[j] === "\n") break; // unterminated: stop at the line end
          j++;
        }
        const body = code.slice(i + m[0].length, Math.min(j, n));
        out += m[0] + (isF ? body : body.replace(/[^\n]/g, "")) + (j < n ? quote : "");
        i = Math.min(n, j + (code.startsWith(quote, j) ? quote.length : 0));
        continue;
      }
    }
    out += ch;
    i++;
  }
  return out;
}
