import assert from "node:assert/strict";

// docs/ARCHITECTURE.md: Network keeps connection lifecycle and the dispatch table; every concern
// (legacy sync, control relay, announce/pull, slots, outbound dials) lives in its own file. The
// bound keeps the next feature from landing in the one file everything passes through.
Deno.test("src/net/network.ts stays at most 450 lines", async () => {
  const text = await Deno.readTextFile(new URL("../../src/net/network.ts", import.meta.url));
  const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
  assert.ok(lines <= 450, `network.ts has ${lines} lines: move a concern into its own file`);
});
