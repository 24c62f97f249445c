/**
 * A minimal terminal for tests: replays what a program wrote (text, `\r`, `\n`, the erase-line
 * sequence `ESC [2K`, other CSI sequences ignored) and returns the lines left in the scrollback
 * plus the line the cursor is on.
 */
export function replayTerminal(output: string): { lines: string[]; current: string } {
  const lines: string[] = [];
  let line: string[] = [];
  let col = 0;
  for (let i = 0; i < output.length; i++) {
    const ch = output[i]!;
    if (ch === "\x1b" && output[i + 1] === "[") {
      let j = i + 2;
      while (j < output.length && !/[A-Za-z]/.test(output[j]!)) j++;
      if (output.slice(i + 2, j + 1) === "2K") line = [];
      i = j;
      continue;
    }
    if (ch === "\r") {
      col = 0;
    } else if (ch === "\n") {
      lines.push(line.join(""));
      line = [];
      col = 0;
    } else {
      while (line.length < col) line.push(" ");
      line[col++] = ch;
    }
  }
  return { lines, current: line.join("") };
}
