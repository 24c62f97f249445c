/** One user-facing base class, tested with instanceof; programmer errors are not user-facing. */
import assert from "node:assert/strict";
import { isProgrammerError, UserError } from "../src/errors.ts";
import { reportError } from "../src/cli/errors.ts";
import { ConfigError } from "../src/config.ts";
import { StoreError } from "../src/store/mod.ts";
import { DataDirLockedError } from "../src/ops/lock.ts";
import { TrainingSetupError } from "../src/training/errors.ts";

/** What reportError printed for `e`. */
function reported(e: unknown): string {
  const lines: string[] = [];
  const original = console.error;
  const debug = Deno.env.get("SPORE_DEBUG");
  Deno.env.delete("SPORE_DEBUG"); // the stack would replace the hint
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    assert.equal(reportError(e), 1);
  } finally {
    console.error = original;
    if (debug !== undefined) Deno.env.set("SPORE_DEBUG", debug);
  }
  return lines.join("\n");
}

Deno.test("user-facing errors share one base class and keep their own names", () => {
  const errors = [
    new ConfigError("c"),
    new StoreError("s"),
    new DataDirLockedError("d"),
    new TrainingSetupError("python_missing", "t"),
  ];
  for (const e of errors) {
    assert.ok(e instanceof UserError, e.name);
    assert.equal(e.name, e.constructor.name);
    assert.ok(!isProgrammerError(e));
    // Shown as written, without the debugging hint.
    assert.doesNotMatch(reported(e), /SPORE_DEBUG/);
  }
});

Deno.test("caller bugs are built-in errors: reported with the debugging hint", () => {
  for (const e of [new TypeError("t"), new RangeError("r"), new Error("plain")]) {
    assert.ok(!(e instanceof UserError));
    assert.match(reported(e), /run with SPORE_DEBUG=1 for details/);
  }
  assert.ok(isProgrammerError(new TypeError("t")) && isProgrammerError(new RangeError("r")));
  assert.ok(!isProgrammerError(new Error("plain")));
});
