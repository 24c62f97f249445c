import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  encodeFrame,
  envelope,
  FrameDecoder,
  sha256Hex,
  signRecord,
} from "../../src/protocol/mod.ts";
import type { ExperimentRecord } from "../../src/protocol/mod.ts";
import { openStores } from "../../src/store/mod.ts";
import { updateConfig } from "../../src/config.ts";
import { NODE_IDS, SEEDS } from "../store/helpers.ts";
import { spore, withTemp } from "./helpers.ts";

const CODE = new TextEncoder().encode("LEARNING_RATE = 0.004\nprint('exact bytes \u00e9')\n");
const CID = sha256Hex(CODE);

function recordWithCode(codeCid: string): ExperimentRecord {
  return signRecord({
    version: 1,
    parent: null,
    depth: 0,
    code_cid: codeCid,
    diff: "",
    dataset_cid: "climbmix-400b-shuffle",
    prepare_cid: "ab".repeat(32),
    time_budget: 300,
    val_bpb: 0.99,
    peak_vram_mb: 100.5,
    num_steps: 10,
    num_params: 1000,
    status: "keep",
    description: "checkout test",
    hypothesis: "",
    agent_model: "test",
    gpu_model: "H100",
    cuda_version: "12.8",
    torch_version: "2.9.0",
    node_id: NODE_IDS[0]!,
    timestamp: 1_773_000_000,
  }, SEEDS[0]!);
}

/** A peer that answers every code_request with `code` (right or wrong bytes). */
function codePeer(code: Uint8Array): { port: number; requests: string[]; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const dec = new FrameDecoder();
        const buf = new Uint8Array(65536);
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            for (const body of dec.push(buf.slice(0, n))) {
              const msg = JSON.parse(new TextDecoder().decode(body));
              if (msg.type !== "code_request") continue;
              requests.push(msg.payload.code_cid);
              await conn.write(encodeFrame(envelope("code_response", {
                code_cid: msg.payload.code_cid,
                code: Buffer.from(code).toString("base64"),
              })));
            }
          }
        } catch { /* the client hung up */ }
        try {
          conn.close();
        } catch { /* closed by the client */ }
      })();
    }
  })();
  return { port: (listener.addr as Deno.NetAddr).port, requests, close: () => listener.close() };
}

Deno.test("checkout: writes the exact stored code of an experiment named by a prefix", async () => {
  await withTemp(async (dir) => {
    const rec = recordWithCode(CID);
    const stores = openStores(dir);
    stores.graph.insert(rec);
    await stores.artifacts.put(CODE);
    stores.close();
    const out = `${dir}/best.py`;
    const r = await spore(
      "checkout",
      rec.id.slice(0, 10),
      "--output",
      out,
      "--json",
      "--data-dir",
      dir,
    );
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { id: rec.id, code_cid: CID, path: out, source: "local" });
    assert.equal(sha256Hex(await Deno.readFile(out)), rec.code_cid);

    const missing = await spore("checkout", "ffff", "--data-dir", dir);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no experiment with id "ffff"/);
  });
});

Deno.test("checkout: code not stored here is fetched from a peer, checked against its hash and kept", async () => {
  await withTemp(async (dir) => {
    const rec = recordWithCode(CID);
    const stores = openStores(dir);
    stores.graph.insert(rec);
    stores.close();
    const liar = codePeer(new TextEncoder().encode("not the code"));
    const honest = codePeer(CODE);
    try {
      await updateConfig(dir, {
        peer: [`127.0.0.1:${liar.port}`, `127.0.0.1:${honest.port}`],
        bootstrap: [],
      });
      const out = `${dir}/fetched.py`;
      const r = await spore("checkout", rec.id, "-o", out, "--json", "--data-dir", dir);
      assert.equal(r.code, 0, r.err);
      assert.equal(JSON.parse(r.out).source, "peer");
      assert.deepEqual(await Deno.readFile(out), CODE);
      assert.deepEqual(honest.requests, [CID]);
      const again = openStores(dir);
      try {
        assert.deepEqual(await again.artifacts.get(CID), CODE, "fetched code is kept");
      } finally {
        again.close();
      }
    } finally {
      liar.close();
      honest.close();
    }
  });
});

Deno.test("checkout: when no peer has the code, every peer's reason is shown", async () => {
  await withTemp(async (dir) => {
    const rec = recordWithCode(CID);
    const stores = openStores(dir);
    stores.graph.insert(rec);
    stores.close();
    const liar = codePeer(new TextEncoder().encode("wrong bytes"));
    // A Python peer without the file stays silent (PROTOCOL.md section 11).
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const silentPort = (silent.addr as Deno.NetAddr).port;
    const held: Deno.Conn[] = [];
    (async () => {
      for await (const c of silent) held.push(c);
    })();
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = (closed.addr as Deno.NetAddr).port;
    closed.close();
    try {
      await updateConfig(dir, {
        peer: [`127.0.0.1:${liar.port}`, `127.0.0.1:${closedPort}`, `127.0.0.1:${silentPort}`],
        bootstrap: [],
      });
      const r = await spore("checkout", rec.id, "--timeout", "2", "--data-dir", dir);
      assert.equal(r.code, 1);
      assert.match(r.err, new RegExp(`127\\.0\\.0\\.1:${closedPort}: .*refused`, "i"));
      assert.match(
        r.err,
        new RegExp(`127\\.0\\.0\\.1:${liar.port}: sent code whose sha256 is not the cid`),
      );
      assert.match(r.err, new RegExp(`127\\.0\\.0\\.1:${silentPort}: no answer within 2s`));
    } finally {
      liar.close();
      silent.close();
      for (const c of held) c.close();
    }
  });
});
