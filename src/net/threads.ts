/**
 * How many threads the node gives its stores, by core count.
 * @module
 */

/**
 * Cores from which the graph gets threads of its own (a writer worker and background WAL
 * checkpoints). Below that, the main thread and the verify worker already keep both cores busy
 * during a sync; measured on 2 cores, a third thread made sync about 5% slower and the node
 * 8 MB larger.
 */
export const STORE_THREAD_MIN_CORES = 4;

/** True when this machine has enough cores for the graph's own threads. */
export function storeThreadsWanted(): boolean {
  return (navigator.hardwareConcurrency ?? 2) >= STORE_THREAD_MIN_CORES;
}
