/**
 * Fetch one `train.py` by its hash from peers without running a node: dial each address, send
 * `code_request`, accept the first `code_response` whose bytes hash to the cid. Used by
 * `spore checkout`, which must work whether or not a node runs on the data dir (a running node
 * of ours answers from its artifact store like any peer). No sync, no relay: one request per
 * connection, every other message ignored.
 * @module
 */
import { Buffer } from "node:buffer";
import {
  encodeFrame,
  envelope,
  FrameDecoder,
  parseAddress,
  parseMessage,
  sha256Hex,
} from "../protocol/mod.ts";
import { Dialer } from "./transport.ts";
import { errorText, safetyCatch } from "../errors.ts";

/** Why one address did not deliver the code. */
export interface CodeAttempt {
  address: string;
  error: string;
}

/** Options of {@link fetchCodeFromPeers}. */
export interface CodeFetchOptions {
  /** Give up after this long in total (default 30 s). */
  deadlineMs?: number;
  /** Per-dial timeout (default 5 s). */
  dialTimeoutMs?: number;
  /** Called as each address fails, for progress output. */
  onAttempt?: (attempt: CodeAttempt) => void;
}

/** Most bytes read from one peer while waiting for the answer (a frame's cap plus slack). */
const MAX_READ_BYTES = 16 * 1024 * 1024;

/**
 * Ask every address in parallel; resolve with the verified bytes of the first good answer, or
 * `undefined` with every address's reason once all failed or the deadline passed.
 */
export async function fetchCodeFromPeers(
  cid: string,
  addresses: readonly string[],
  opts: CodeFetchOptions = {},
): Promise<{ code?: Uint8Array | undefined; attempts: CodeAttempt[] }> {
  const deadline = opts.deadlineMs ?? 30_000;
  const dialer = new Dialer(opts.dialTimeoutMs ?? 5_000);
  const attempts: CodeAttempt[] = [];
  const conns = new Set<Deno.TcpConn>();
  let found: Uint8Array | undefined;
  const fail = (address: string, error: string) => {
    const a = { address, error };
    attempts.push(a);
    opts.onAttempt?.(a);
  };
  const ask = async (address: string): Promise<void> => {
    const parsed = parseAddress(address);
    if (!parsed.ok) return fail(address, parsed.reason);
    let conn: Deno.TcpConn;
    try {
      conn = await dialer.dial(address, parsed.value.host, parsed.value.port);
    } catch (e) {
      safetyCatch(e);
      return fail(address, errorText(e));
    }
    conns.add(conn);
    try {
      await conn.write(encodeFrame(envelope("code_request", { code_cid: cid })));
      const decoder = new FrameDecoder();
      const buf = new Uint8Array(64 * 1024);
      let read = 0;
      while (found === undefined) {
        const n = await conn.read(buf);
        if (n === null) return fail(address, "closed without the code (the peer does not hold it)");
        read += n;
        if (read > MAX_READ_BYTES) return fail(address, "sent too much without the code");
        for (const body of decoder.push(buf.slice(0, n))) {
          const answer = codeIn(body, cid);
          if (answer === "mismatch") return fail(address, "sent code whose sha256 is not the cid");
          if (answer) {
            found ??= answer;
            return;
          }
        }
      }
    } catch (e) {
      safetyCatch(e);
      // A read ended by the deadline (or by another peer's answer) is not this peer's error.
      if (found === undefined) {
        fail(address, expired ? `no answer within ${deadline / 1000}s` : errorText(e));
      }
    } finally {
      conns.delete(conn);
      closeOnce(conn);
    }
  };
  // Done when one peer delivered (the others are closed), all failed, or the deadline passed.
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  let expired = false;
  const stopAll = () => {
    dialer.abortAll();
    for (const c of conns) closeOnce(c); // unblocks the pending reads; each ask then returns
    done();
  };
  const timer = setTimeout(() => {
    expired = true;
    stopAll();
  }, deadline);
  const all = Promise.all(addresses.map(async (a) => {
    await ask(a);
    if (found !== undefined) stopAll();
  })).finally(done);
  await finished;
  clearTimeout(timer);
  await all;
  if (found === undefined) {
    for (const a of addresses) {
      if (!attempts.some((t) => t.address === a)) fail(a, `no answer within ${deadline / 1000}s`);
    }
  }
  return { code: found, attempts };
}

/**
 * The verified code in a `code_response` body for `cid`; "mismatch" when the bytes do not hash
 * to it; undefined for any other message.
 */
function codeIn(body: Uint8Array, cid: string): Uint8Array | "mismatch" | undefined {
  // The protocol core's parser: bounded and schema-checked like every frame the node reads.
  const msg = parseMessage(body);
  if (!msg.ok || msg.value.type !== "code_response") return undefined;
  const { code_cid, code } = msg.value.payload;
  if (code_cid !== cid) return undefined;
  const bytes = new Uint8Array(Buffer.from(code, "base64"));
  return sha256Hex(bytes) === cid ? bytes : "mismatch";
}

/** Close a connection that the deadline may have closed already. */
function closeOnce(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}
