// The background half of a sink: a bounded buffer drained by one worker that delivers batches in
// order, retrying each with exponential backoff. Everything sinks promise about not blocking the
// pipeline lives here, so each sink only says how to deliver one batch.

import { setTimeout as sleep } from "node:timers/promises";
import type { SinkStats } from "./sink.js";

export interface DeliveryOptions {
  /** Alerts waiting to be delivered, not counting the batch in flight. Full means drop. */
  capacity: number;
  /** Most items handed to one deliver() call. */
  maxBatch: number;
  /** Extra attempts after the first one fails. */
  retries: number;
  /** First backoff; doubles on each retry, up to maxBackoffMs, with jitter. */
  backoffMs: number;
  maxBackoffMs: number;
  /** How long close() waits for the buffer to drain before dropping what is left. */
  closeTimeoutMs: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  capacity: 1000,
  maxBatch: 1,
  retries: 5,
  backoffMs: 500,
  maxBackoffMs: 30_000,
  closeTimeoutMs: 5000,
};

/** A failure that retrying cannot fix (the peer rejected the content): the batch fails at once. */
export class PermanentError extends Error {
  override readonly name = "PermanentError";
}

export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // fetch() reports "fetch failed" and hides the useful part (ECONNREFUSED, …) in `cause`.
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return `${err.message}${cause}`;
}

export class Delivery<T> {
  private readonly buffer: T[] = [];
  private readonly opts: DeliveryOptions;
  private scheduled = false;
  private running = false;
  private closed = false;
  // Aborted when close() gives up waiting: cuts backoff sleeps short and stops further attempts.
  private readonly giveUp = new AbortController();
  private idleWaiters: Array<() => void> = [];
  private readonly counts: SinkStats = { sent: 0, failed: 0, dropped: 0 };

  constructor(
    private readonly deliver: (batch: T[]) => Promise<void>,
    opts: Partial<DeliveryOptions> = {},
  ) {
    this.opts = { ...DEFAULT_DELIVERY, ...opts };
  }

  /** Queues an item; false (and counted as dropped) when the buffer is full or closed. */
  offer(item: T): boolean {
    if (this.closed || this.buffer.length >= this.opts.capacity) {
      this.counts.dropped++;
      return false;
    }
    this.buffer.push(item);
    this.schedule();
    return true;
  }

  /** Counts an item as dropped without queueing it (for reasons only the sink knows). */
  countDropped(reason: string): void {
    this.counts.dropped++;
    this.counts.lastError = reason;
  }

  /** Records an error that happened outside deliver() (e.g. a stream's 'error' event). */
  noteError(message: string): void {
    this.counts.lastError = message;
  }

  stats(): SinkStats {
    return { ...this.counts };
  }

  /** Resolves when nothing is buffered or in flight. */
  flush(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops accepting items; waits up to closeTimeoutMs to drain, then drops what is still buffered. */
  async close(): Promise<void> {
    this.closed = true;
    if (await this.drainedWithin(this.opts.closeTimeoutMs)) return;
    this.giveUp.abort();
    this.counts.dropped += this.buffer.length;
    this.buffer.length = 0;
    // The batch in flight ends at its own timeout; wait for it, but not forever.
    await this.drainedWithin(this.opts.closeTimeoutMs);
  }

  private idle(): boolean {
    return !this.scheduled && !this.running && this.buffer.length === 0;
  }

  private async drainedWithin(ms: number): Promise<boolean> {
    const timer = new AbortController();
    const drained = await Promise.race([
      this.flush().then(() => true),
      sleep(ms, false, { signal: timer.signal }).catch(() => false),
    ]);
    timer.abort();
    return drained;
  }

  // The worker starts on the next turn of the event loop, not inside offer(): a burst of alerts
  // sent in one go then leaves together in batches instead of the first one alone.
  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.buffer.length > 0 && !this.giveUp.signal.aborted) {
        const batch = this.buffer.splice(0, this.opts.maxBatch);
        await this.deliverWithRetry(batch);
      }
    } finally {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async deliverWithRetry(batch: T[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deliver(batch);
        this.counts.sent += batch.length;
        return;
      } catch (err) {
        this.counts.lastError = describeError(err);
        if (err instanceof PermanentError || attempt >= this.opts.retries || this.giveUp.signal.aborted) {
          this.counts.failed += batch.length;
          return;
        }
      }
      try {
        await sleep(this.backoff(attempt), undefined, { signal: this.giveUp.signal });
      } catch {
        // close() gave up: the next attempt is the last one.
      }
    }
  }

  private backoff(attempt: number): number {
    const full = Math.min(this.opts.maxBackoffMs, this.opts.backoffMs * 2 ** attempt);
    // Jitter, so that many hosts whose collector came back at once do not retry in lockstep.
    return full * (0.5 + Math.random() * 0.5);
  }
}
