/**
 * Wire framing (PROTOCOL.md section 5): 4-byte big-endian length, then that many bytes of UTF-8
 * JSON. A declared length over the cap is a protocol violation and closes the connection.
 * @module
 */

/** Largest accepted frame body: 10 MiB. */
export const MAX_FRAME_BYTES = 10 * 1024 * 1024;

const encoder = new TextEncoder();

/** Thrown for a frame that must close the connection. */
export class FrameError extends Error {
  override name = "FrameError";
}

/** Encode one message body (already JSON text) as a frame. */
export function encodeFrame(json: string): Uint8Array {
  const body = encoder.encode(json);
  if (body.length > MAX_FRAME_BYTES) {
    throw new FrameError(`frame of ${body.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  }
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/**
 * Incremental frame decoder: feed it chunks as they arrive; it returns each complete body.
 * Buffers at most one frame plus one chunk.
 */
export class FrameDecoder {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #need = -1;
  readonly #max: number;

  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    this.#max = maxFrameBytes;
  }

  /** Bytes received that do not yet form a complete frame. */
  get pending(): number {
    return this.#buffered;
  }

  /**
   * Add a chunk; return the bodies of all frames it completes.
   * @throws {FrameError} when a frame declares a length over the cap.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length === 0) return [];
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Uint8Array[] = [];
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 4) break;
        const len = new DataView(this.#take(4).buffer).getUint32(0);
        if (len > this.#max) {
          throw new FrameError(`declared frame length ${len} exceeds ${this.#max}`);
        }
        this.#need = len;
      }
      if (this.#buffered < this.#need) break;
      out.push(this.#take(this.#need));
      this.#need = -1;
    }
    return out;
  }

  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const head = this.#chunks[0];
      if (head === undefined) {
        throw new RangeError("frame decoder: fewer bytes queued than counted");
      }
      const k = Math.min(head.length, n - off);
      out.set(head.subarray(0, k), off);
      off += k;
      if (k === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(k);
    }
    this.#buffered -= n;
    return out;
  }
}
