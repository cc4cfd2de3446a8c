// The bounded queue between pipeline stages. Two ways in:
//  - push(): waits while the queue is full (backpressure for sources that can pause, like files);
//  - offer(): never waits; when full the item is dropped and counted against its source, because
//    a live source (a socket, a kernel stream) cannot be paused without losing data upstream anyway.

export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private head = 0;
  private closed = false;
  private readonly waitingPushers: Array<() => void> = [];
  private waitingTaker: ((item: T | undefined) => void) | undefined;
  private readonly dropsBySource = new Map<string, number>();
  private acceptedCount = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get accepted(): number {
    return this.acceptedCount;
  }

  /** Exact number of items dropped per source by offer(). */
  drops(): Record<string, number> {
    return Object.fromEntries(this.dropsBySource);
  }

  /** Waits for room, then enqueues. Rejects if the queue is closed. */
  async push(item: T): Promise<void> {
    while (this.length >= this.capacity) {
      if (this.closed) throw new Error("queue closed");
      await new Promise<void>((resolve) => this.waitingPushers.push(resolve));
    }
    if (this.closed) throw new Error("queue closed");
    this.enqueue(item);
  }

  /** Enqueues if there is room; otherwise drops the item and counts it against `source`. */
  offer(item: T, source: string): boolean {
    if (this.closed || this.length >= this.capacity) {
      this.dropsBySource.set(source, (this.dropsBySource.get(source) ?? 0) + 1);
      return false;
    }
    this.enqueue(item);
    return true;
  }

  /** Resolves with the next item, or undefined once the queue is closed and empty. */
  take(): Promise<T | undefined> {
    if (this.length > 0) return Promise.resolve(this.dequeue());
    if (this.closed) return Promise.resolve(undefined);
    if (this.waitingTaker) throw new Error("BoundedQueue supports one consumer");
    return new Promise((resolve) => (this.waitingTaker = resolve));
  }

  /** No more items will come; the consumer sees the rest, then undefined. */
  close(): void {
    this.closed = true;
    const taker = this.waitingTaker;
    this.waitingTaker = undefined;
    if (taker && this.length === 0) taker(undefined);
    for (const wake of this.waitingPushers.splice(0)) wake();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = await this.take();
      if (item === undefined) return;
      yield item;
    }
  }

  private enqueue(item: T): void {
    this.acceptedCount++;
    const taker = this.waitingTaker;
    if (taker) {
      this.waitingTaker = undefined;
      taker(item);
      return;
    }
    this.items.push(item);
  }

  private dequeue(): T {
    const item = this.items[this.head] as T;
    this.head++;
    // Compact now and then so a long-lived queue does not keep every item it ever held.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    this.waitingPushers.shift()?.();
    return item;
  }
}
