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
    const top = h[0];
    if (top === undefined) return undefined;
    const last = h.pop()!; // not empty: it holds top
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
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.#priority(p) >= this.#priority(i)) return;
      this.#swap(p, i);
      i = p;
    }
  }

  #down(i: number): void {
    const n = this.#heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#priority(l) > this.#priority(m)) m = l;
      if (r < n && this.#priority(r) > this.#priority(m)) m = r;
      if (m === i) return;
      this.#swap(m, i);
      i = m;
    }
  }

  /** Priority of slot `i`; #up and #down only pass indexes below the heap's length. */
  #priority(i: number): number {
    return this.#heap[i]!.priority;
  }

  /** Exchange slots `a` and `b` (both below the heap's length). */
  #swap(a: number, b: number): void {
    const h = this.#heap;
    const x = h[a]!;
    h[a] = h[b]!;
    h[b] = x;
  }
}
