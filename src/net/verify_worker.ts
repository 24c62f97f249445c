/**
 * Worker side of {@link ../verify_pool.ts}: validates record batches off the main thread with
 * {@link checkRecord}, so the main thread keeps parsing and storing meanwhile.
 * @module
 */
/// <reference lib="deno.worker" />
import { checkRecord } from "./record_check.ts";
import type { VerifyRequest, VerifyResponse } from "./verify_pool.ts";

self.onmessage = (e: MessageEvent<VerifyRequest>) => {
  const { batch, records } = e.data;
  const reasons = records.map(checkRecord);
  const reply: VerifyResponse = { batch, reasons };
  self.postMessage(reply);
};
