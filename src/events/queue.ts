// The bounded queue between pipeline stages. Two ways in:
//  - push(): waits while the queue is full (backpressure for sources that can pause, like files);
//  - offer(): never waits; when full the item is dropped and counted against its source, because
//    a live source (a socket, a kernel stream) cannot be paused without losing data upstream anyway.

export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private head = 0;
  private closed = false;
  // Pushers waiting for room, oldest first, with their items. Invariant: someone waits only while
  // the queue is full, so a freed slot always goes to the oldest of them (see dequeue).
  private readonly waitingPushers: Array<{ item: T; resolve: () => void; reject: (err: Error) => void }> = [];
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

  /**
   * Waits for room, then enqueues; waiting pushers get in in the order they called push (a new
   * push never overtakes one that is already waiting). Resolves once the item is in the queue.
   * Rejects if the queue is closed, also when it is closed while this push waits.
   */
  push(item: T): Promise<void> {
    if (this.closed) return Promise.reject(new Error("queue closed"));
    if (this.waitingPushers.length === 0 && this.length < this.capacity) {
      this.enqueue(item);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => this.waitingPushers.push({ item, resolve, reject }));
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
    for (const pusher of this.waitingPushers.splice(0)) pusher.reject(new Error("queue closed"));
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
    // Hand the freed slot to the oldest waiting pusher right now, rather than waking it to compete
    // for the slot later: that let a newer push overtake it, and lost the wake-up altogether when a
    // second take() came before the woken pusher ran (producer and consumer then waited forever).
    const pusher = this.waitingPushers.shift();
    if (pusher) {
      this.enqueue(pusher.item);
      pusher.resolve();
    }
    return item;
  }
}
