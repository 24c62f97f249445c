import assert from "node:assert/strict";
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from "../../src/protocol/mod.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("frames round-trip whole, split byte by byte, and concatenated", () => {
  const bodies = ['{"type":"ping","payload":{}}', "", '{"x":"caf\u00e9 \u{1f9ea}"}'];
  const wire = new Uint8Array(bodies.reduce((n, b) => n + encodeFrame(b).length, 0));
  let off = 0;
  for (const b of bodies) {
    const f = encodeFrame(b);
    wire.set(f, off);
    off += f.length;
  }
  assert.deepEqual(new FrameDecoder().push(wire).map(text), bodies);
  const dec = new FrameDecoder();
  const got: string[] = [];
  for (const byte of wire) got.push(...dec.push(new Uint8Array([byte])).map(text));
  assert.deepEqual(got, bodies);
  assert.equal(dec.pending, 0);
});

Deno.test("a declared length over 10 MiB is rejected before any body arrives", () => {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
  assert.throws(() => new FrameDecoder().push(header), FrameError);
  new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES);
  assert.deepEqual(new FrameDecoder().push(header), []);
  assert.throws(() => encodeFrame("x".repeat(MAX_FRAME_BYTES + 1)), FrameError);
});

Deno.test("a truncated frame stays pending", () => {
  const f = encodeFrame('{"type":"pong","payload":{}}');
  const dec = new FrameDecoder();
  assert.deepEqual(dec.push(f.subarray(0, f.length - 3)), []);
  assert.equal(dec.pending, f.length - 4 - 3);
  assert.equal(dec.push(f.subarray(f.length - 3)).length, 1);
});
