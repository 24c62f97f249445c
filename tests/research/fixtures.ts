/** Shared test inputs: the real workspace baseline and small edits of it. */
import { fileURLToPath } from "node:url";

/** The workspace's baseline train.py (the file every proposal starts from). */
export const BASELINE = Deno.readTextFileSync(
  fileURLToPath(new URL("../../workspace/train.py", import.meta.url)),
);

/** Replace the first occurrence of `from` in the baseline, failing loudly when it is absent. */
export function edit(code: string, from: string, to: string): string {
  if (!code.includes(from)) throw new Error(`fixture text not found: ${from}`);
  return code.replace(from, to);
}

/** A syntax checker for tests that reject code containing a marker, without Python. */
export function markerSyntax(marker = "SYNTAX_ERROR_HERE") {
  return (code: string) =>
    Promise.resolve(
      code.includes(marker) ? { ok: false as const, error: "line 1: invalid syntax" } : {
        ok: true as const,
      },
    );
}
