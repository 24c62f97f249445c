/**
 * Worker side of {@link ./graph_writer.ts}: owns a second SQLite connection to the graph and
 * stores validated record batches, so the main thread keeps reading sockets meanwhile.
 * @module
 */
/// <reference lib="deno.worker" />
import { GraphStore } from "../store/mod.ts";
import type { WriterReply, WriterRequest } from "./graph_writer.ts";

let graph: GraphStore | undefined;

self.onmessage = (e: MessageEvent<WriterRequest>) => {
  const req = e.data;
  let reply: WriterReply;
  try {
    if (req.kind === "open") {
      graph = GraphStore.open(req.path);
      reply = { id: req.id, ok: true, added: 0 };
    } else if (req.kind === "insert") {
      if (!graph) throw new Error("graph writer not open");
      reply = { id: req.id, ok: true, added: graph.insertMany(req.records) };
    } else {
      graph?.close();
      graph = undefined;
      reply = { id: req.id, ok: true, added: 0 };
    }
  } catch (err) {
    reply = { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
