/**
 * Research and verification in a foreign research class, beside a Python node: a stand-in for
 * the autoresearch workspace (tests/fixtures/autoresearch_workspace.ts), a Python-like raw-socket
 * peer (no hello, PROTOCOL.md section 11) holding a record of that class and its code, and our
 * node started as `spore run` starts it (runNode), with the real sandboxed runtime.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runNode, type RunOptions } from "../../src/cli/run.ts";
import {
  type ExperimentPayload,
  type ExperimentRecord,
  sha256Hex,
  signRecord,
} from "../../src/protocol/mod.ts";
import { openStores } from "../../src/store/mod.ts";
import {
  CLIMBMIX,
  STANDIN_TRAIN,
  standinValBpb,
  type StandinWorkspace,
  writeStandinWorkspace,
} from "../fixtures/autoresearch_workspace.ts";
import { waitFor } from "../net/helpers.ts";
import { PythonLikePeer } from "../net/python_like.ts";
import { NODE_IDS, SEEDS } from "../store/helpers.ts";
import { BWRAP, TORCH } from "../training/_env.ts";

/** The Python peer's frontier code: the stand-in with its own tweak. */
const PEER_CODE = STANDIN_TRAIN.replace("MATRIX_LR = 0.04", "MATRIX_LR = 0.05");

/** A keep record of the workspace's class as a Python CPU node publishes it. */
function pythonRecord(ws: StandinWorkspace): { record: ExperimentRecord; code: Uint8Array } {
  const code = new TextEncoder().encode(PEER_CODE);
  const payload: ExperimentPayload = {
    version: 1,
    parent: null,
    depth: 0,
    code_cid: sha256Hex(code),
    diff: "",
    dataset_cid: CLIMBMIX,
    prepare_cid: ws.prepareCid,
    time_budget: 300,
    val_bpb: standinValBpb(PEER_CODE),
    peak_vram_mb: 0,
    num_steps: 3,
    num_params: 50_400_000,
    status: "keep",
    description: "baseline with a higher matrix lr",
    hypothesis: "",
    agent_model: "claude",
    gpu_model: "CPU",
    cuda_version: "cpu",
    torch_version: "2.9.0",
    node_id: NODE_IDS[1]!,
    timestamp: Math.floor(Date.now() / 1000) - 60,
  };
  return { record: signRecord(payload, SEEDS[1]!), code };
}

/**
 * Run a node like `spore run` with `opts` against a Python-like peer it dials; `until` says when
 * the test has seen enough (the node is then stopped), unless the node ends by itself first.
 */
async function withNode(
  root: string,
  ws: StandinWorkspace,
  opts: RunOptions,
  spotCheckRate: string,
  body: (peer: () => PythonLikePeer | undefined, lines: string[]) => Promise<void>,
): Promise<{ record: ExperimentRecord; peer: PythonLikePeer; dataDir: string; lines: string[] }> {
  const dataDir = join(root, "data");
  await Deno.mkdir(dataDir, { recursive: true });
  // No bootstrap: the Python-like peer is the whole network.
  await Deno.writeTextFile(join(dataDir, "config.toml"), "bootstrap = []\n");
  const { record, code } = pythonRecord(ws);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let peer: PythonLikePeer | undefined;
  const accepted = PythonLikePeer.accept(listener, {
    publish: [record],
    records: [record],
    code: new Map([[record.code_cid, code]]),
  }).then((p) => (peer = p));
  const lines: string[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const before = Deno.env.get("SPORE_SPOT_CHECK_RATE");
  Deno.env.set("SPORE_SPOT_CHECK_RATE", spotCheckRate);
  try {
    const node = runNode({
      dataDir,
      port: 0,
      host: "127.0.0.1",
      explorer: false,
      peer: [`127.0.0.1:${(listener.addr as Deno.NetAddr).port}`],
      workspace: ws.dir,
      datasetCid: CLIMBMIX,
      dataCache: ws.dataCache,
      ...opts,
    }, { stopped, print: (l) => lines.push(l), progressMs: 60_000, tty: false });
    const ended = node.then(() => "ended", (e) => e);
    const checked = body(() => peer, lines);
    const first = await Promise.race([ended, checked.then(() => "checked")]);
    stop();
    const result = await ended;
    if (result instanceof Error) throw result;
    if (first === "ended") await checked;
  } finally {
    if (before === undefined) Deno.env.delete("SPORE_SPOT_CHECK_RATE");
    else Deno.env.set("SPORE_SPOT_CHECK_RATE", before);
    listener.close();
  }
  await accepted;
  await peer!.close();
  return { record, peer: peer!, dataDir, lines };
}

const RUNTIME = TORCH !== null && BWRAP !== null;

Deno.test({
  name: "spore run --verify-only --workspace W: a Python peer's record of the class is verified",
  ignore: !RUNTIME,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "spore-class-verify-" });
    try {
      const ws = await writeStandinWorkspace(root);
      const { record, peer, dataDir, lines } = await withNode(
        root,
        ws,
        { verifyOnly: true },
        "1",
        async (peer) => {
          await waitFor(
            () =>
              peer()?.messages("verification").some((v) =>
                (v as { experiment_id?: string }).experiment_id !== undefined
              ) ?? false,
            "a verification reaching the Python peer",
            180_000,
          );
        },
      );
      const verification = peer.messages("verification")[0] as Record<string, unknown>;
      assert.equal(verification.experiment_id, record.id);
      assert.equal(verification.verified_node_id, record.node_id);
      assert.equal(verification.verifier_bpb, record.val_bpb, "the rerun reproduced val_bpb");
      assert.ok(peer.asked.includes(record.code_cid), "the code came from the Python peer");
      assert.ok(lines.some((l) => /class\s+climbmix-400b-shuffle\//.test(l)), lines.join("\n"));
      const stores = openStores(dataDir);
      try {
        assert.equal(stores.graph.isVerified(record.id), true);
      } finally {
        stores.close();
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "spore run --workspace W --max-experiments 1 builds on the Python peer's frontier record",
  ignore: !RUNTIME,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "spore-class-research-" });
    try {
      const ws = await writeStandinWorkspace(root);
      const { record, peer, lines } = await withNode(
        root,
        ws,
        { maxExperiments: 1 },
        "0",
        async (peer) => {
          await waitFor(
            () => (peer()?.messages("experiment").length ?? 0) > 0,
            "an experiment reaching the Python peer",
            180_000,
          );
        },
      );
      const published = peer.messages("experiment") as ExperimentRecord[];
      assert.equal(published.length, 1, lines.join("\n"));
      const child = published[0]!;
      assert.equal(child.parent, record.id, "the parent is the peer's frontier record");
      assert.equal(child.depth, 1);
      assert.equal(child.dataset_cid, CLIMBMIX);
      assert.equal(child.prepare_cid, ws.prepareCid);
      assert.equal(child.agent_model, "spore-mutator");
      assert.ok(lines.some((l) => l.includes("starting from frontier")), lines.join("\n"));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
