/**
 * One training job at a time per node: local research and verification reruns share this queue
 * and run strictly in the order they asked (two trainings at once would halve each one's budget
 * and make results incomparable).
 * @module
 */

/** A job waiting or running. */
export interface QueuedJob {
  label: string;
  enqueuedAt: number;
}

/** FIFO mutex for training jobs. */
export class TrainingQueue {
  #tail: Promise<void> = Promise.resolve();
  #waiting: QueuedJob[] = [];
  #active: QueuedJob | null = null;

  /** Run `fn` once every job queued before it has finished (successfully or not). */
  run<T>(label: string, fn: () => Promise<T>): Promise<T> {
    const job: QueuedJob = { label, enqueuedAt: Date.now() };
    this.#waiting.push(job);
    const result = this.#tail.then(async () => {
      this.#waiting.splice(this.#waiting.indexOf(job), 1);
      this.#active = job;
      try {
        return await fn();
      } finally {
        this.#active = null;
      }
    });
    // The chain must survive a failed job, so the next one waits on settlement, not success.
    this.#tail = result.then(() => {}, () => {});
    return result;
  }

  /** The running job, if any. */
  get active(): QueuedJob | null {
    return this.#active;
  }

  /** Jobs waiting their turn, oldest first. */
  get waiting(): readonly QueuedJob[] {
    return [...this.#waiting];
  }
}
