/**
 * Python syntax check by parsing only (`ast.parse`): the proposed code is never executed.
 * @module
 */
import type { SyntaxChecker } from "./policy.ts";
import { safetyCatch } from "../errors.ts";

const PARSE = "import ast,sys\ntry:\n ast.parse(sys.stdin.read())\nexcept SyntaxError as e:\n" +
  " print(f'line {e.lineno}: {e.msg}'); sys.exit(3)\nexcept (ValueError, MemoryError, RecursionError) as e:\n" +
  " print(type(e).__name__ + ': ' + str(e)[:200]); sys.exit(3)\n";

/**
 * A checker that pipes the code to `python -I -c <parse>` with a timeout. When the interpreter
 * cannot be started the check passes: the run itself then reports the missing Python.
 */
export function pythonSyntaxChecker(python = "python3", timeoutMs = 15_000): SyntaxChecker {
  return async (code) => {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(python, {
        args: ["-I", "-c", PARSE],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        env: { PYTHONDONTWRITEBYTECODE: "1" },
        clearEnv: true,
      }).spawn();
    } catch {
      return { ok: true };
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch (e) {
        // Deno reports a child that already exited with a TypeError: nothing left to kill.
        if (!(e instanceof TypeError)) safetyCatch(e);
      }
    }, timeoutMs);
    try {
      const writer = child.stdin.getWriter();
      // A checker that exits early breaks the pipe; its exit status below says what happened.
      await writer.write(new TextEncoder().encode(code)).catch(safetyCatch);
      await writer.close().catch(safetyCatch);
      const { code: exit, stdout, stderr, signal } = await child.output();
      if (exit === 0) return { ok: true };
      const text = new TextDecoder().decode(stdout).trim() ||
        new TextDecoder().decode(stderr).trim();
      if (signal) return { ok: false, error: `the parser was stopped after ${timeoutMs} ms` };
      return { ok: false, error: text.slice(0, 300) || `parser exit code ${exit}` };
    } finally {
      clearTimeout(timer);
    }
  };
}
