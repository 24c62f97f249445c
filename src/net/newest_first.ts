/**
 * A bounded priority queue that hands out the highest-priority item first (for artifact
 * prefetch: the newest record's code first) and, when full, forgets the lowest-priority items.
 * @module
 */

interface Slot<T> {
  priority: number;
  item: T;
}

/** Max-heap of at most `capacity` items. */
export class NewestFirstQueue<T> {
  #heap: Slot<T>[] = [];
  readonly #capacity: number;

  /** @param capacity most items kept (at least 4) */
  constructor(capacity: number) {
    if (!Number.isFinite(capacity) || capacity < 4) throw new RangeError("capacity must be >= 4");
    this.#capacity = Math.floor(capacity);
  }

  /** Items held. */
  get size(): number {
    return this.#heap.length;
  }

  /**
   * Add `item`. Returns the items dropped to stay within capacity (the lowest-priority quarter,
   * so the O(n log n) trim runs once per capacity/4 pushes), possibly including `item` itself.
   */
  push(item: T, priority: number): T[] {
    const h = this.#heap;
    h.push({ priority, item });
    this.#up(h.length - 1);
    if (h.length <= this.#capacity) return [];
    // A descending array is a valid max-heap, so sorting and truncating keeps the invariant.
    h.sort((a, b) => b.priority - a.priority);
    const keep = Math.floor(this.#capacity * 3 / 4);
    return h.splice(keep).map((s) => s.item);
  }

  /** Remove and return the highest-priority item. */
  pop(): T | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      this.#down(0);
    }
    return top.item;
  }

  /** Drop everything. */
  clear(): void {
    this.#heap = [];
  }

  #up(i: number): void {
    const h = this.#heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].priority >= h[i].priority) return;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  #down(i: number): void {
    const h = this.#heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].priority > h[m].priority) m = l;
      if (r < h.length && h[r].priority > h[m].priority) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
}
