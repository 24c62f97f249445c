/**
 * Errors inside the network's background tasks are never lost: a programmer error (thrown in
 * the dispatch of a received message, or from the control handler's promise) reaches the log with its stack and surfaces as an unhandled rejection, while an
 * expected I/O failure (a peer reset) is swallowed quietly.
 */
import assert from "node:assert/strict";
import { safetyCatch } from "../../src/errors.ts";
import type { ControlHandler } from "../../src/node_types.ts";
import { MemoryLogger, signedChallenge, startNode, vectorKey, waitFor } from "./helpers.ts";

/** Collect unhandled rejections (instead of failing the test run) while `fn` runs. */
async function catchingRejections(fn: (seen: unknown[]) => Promise<void>): Promise<void> {
  const seen: unknown[] = [];
  const onRejection = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    seen.push(e.reason);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  try {
    await fn(seen);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onRejection);
  }
}

/** Two connected nodes; `a` runs `handler` for control events; `b` sends one to it. */
async function sendControl(handler: ControlHandler, log: MemoryLogger, tag: string) {
  const a = await startNode({ log: log.logger });
  a.node.onControl(handler);
  const b = await startNode();
  b.node.network.connect(a.address);
  await waitFor(() => a.node.peers().length === 1 && b.node.peers().length === 1, "connect");
  const event = signedChallenge("ab".repeat(31) + tag, vectorKey(1));
  await b.node.broadcastControl(event);
  return { a, b, stop: () => Promise.all([a.stop(), b.stop()]) };
}

Deno.test("safetyCatch swallows expected failures and rethrows programmer errors", () => {
  safetyCatch(new Deno.errors.ConnectionReset("peer reset"));
  safetyCatch(new Error("disk full"));
  for (const bug of [new TypeError("x"), new RangeError("x"), new ReferenceError("x")]) {
    assert.throws(() => safetyCatch(bug), bug);
  }
  assert.throws(() => safetyCatch(new assert.AssertionError({ message: "x" })));
});

Deno.test("a bug thrown inside a message handler reaches the log and the process", async () => {
  await catchingRejections(async (seen) => {
    const log = new MemoryLogger();
    const bug = new TypeError("handler bug (test)");
    const a = await startNode({ log: log.logger });
    const b = await startNode();
    // The observer runs synchronously in the dispatch of every received message.
    a.node.network.observe({
      messageIn: (type) => {
        if (type === "challenge") throw bug;
      },
    });
    try {
      b.node.network.connect(a.address);
      await waitFor(() => a.node.peers().length === 1, "connect");
      await b.node.broadcastControl(signedChallenge("ab".repeat(31) + "01", vectorKey(1)));
      await waitFor(() => seen.includes(bug), "the bug to surface as an unhandled rejection");
      const entry = log.find("network task hit a bug").find((e) => e.fields.error === bug.message);
      assert.ok(entry, "logged");
      assert.equal(entry.level, "error");
      assert.equal(entry.fields.part, "net");
      assert.equal(entry.fields.task, "connection");
      assert.match(String(entry.fields.stack), /handler bug \(test\)/);
      // The connection the bug happened on is closed, and says why.
      const closed = log.find("connection closed").find((e) =>
        String(e.fields.reason).startsWith("internal error: handler bug")
      );
      assert.ok(closed, "the connection closes with the internal error as its reason");
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

Deno.test("a bug in the control handler's promise reaches the log and the process", async () => {
  await catchingRejections(async (seen) => {
    const log = new MemoryLogger();
    const bug = new RangeError("async handler bug (test)");
    const net = await sendControl({ onControl: () => Promise.reject(bug) }, log, "02");
    try {
      await waitFor(() => seen.includes(bug), "the bug to surface as an unhandled rejection");
      const entry = log.find("network task hit a bug").find((e) => e.fields.error === bug.message);
      assert.ok(entry, "logged");
      assert.equal(entry.fields.task, "control handler");
    } finally {
      await net.stop();
    }
  });
});

Deno.test("an expected I/O failure in a network task is swallowed quietly", async () => {
  await catchingRejections(async (seen) => {
    const log = new MemoryLogger();
    const reset = new Deno.errors.ConnectionReset("peer reset (test)");
    let calls = 0;
    const net = await sendControl(
      {
        onControl: () => {
          calls++;
          return Promise.reject(reset);
        },
      },
      log,
      "03",
    );
    try {
      await waitFor(() => log.find("network task failed").length > 0, "the failure to be noted");
      const entry = log.find("network task failed")[0]!;
      assert.equal(entry.level, "debug");
      assert.equal(entry.fields.error, reset.message);
      assert.equal(calls, 1);
      // Give a wrongly rethrown failure time to surface before checking it did not.
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(seen, []);
      assert.equal(log.find("network task hit a bug").length, 0);
      assert.equal(net.a.node.peers().length, 1, "the connection stays up");
    } finally {
      await net.stop();
    }
  });
});
