// The background half of a sink: a bounded buffer drained by one worker that delivers batches in
// order, retrying each with exponential backoff. Everything sinks promise about not blocking the
// pipeline lives here, so each sink only says how to deliver one batch.
//
// With a spool (the agent gives every sink one in STATE/outbox), nothing is given up while the
// peer is merely unreachable: a batch whose retries all failed goes to the spool on disk, and
// from then on new items queue behind it there, in order, until a retry of the spool's oldest
// batch succeeds. The spool outlives the process: the next agent retries it at start. Only a
// refusal of the content (PermanentError) fails items for good; only a full spool drops them.

import { setTimeout as sleep } from "node:timers/promises";
import { SinkStartError, type SinkStats } from "./sink.js";
import { DEFAULT_SPOOL_BYTES, DEFAULT_SPOOL_ITEMS, Spool } from "./spool.js";

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
  /** How long close() waits for the buffer to drain before dropping (or spooling) what is left. */
  closeTimeoutMs: number;
  /** The on-disk backlog: its directory and bounds; the sink adds its name (which names the file). */
  spool?: SpoolSettings;
}

export interface SpoolSettings {
  dir: string;
  name?: string;
  maxItems?: number;
  maxBytes?: number;
}

/** A sink's delivery options with its name given to the spool, when it has one. */
export function forSink(opts: Partial<DeliveryOptions> | undefined, name: string): Partial<DeliveryOptions> {
  return opts?.spool ? { ...opts, spool: { ...opts.spool, name } } : { ...opts };
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
  private readonly counts: SinkStats = { sent: 0, failed: 0, dropped: 0, queued: 0, errors: 0 };
  private readonly spool: Spool<T> | undefined;
  /** The timer of the next try of the spool's oldest batch, when it is due, and failures so far (for the backoff). */
  private spoolRetry: NodeJS.Timeout | undefined;
  private spoolDueAt = 0;
  private spoolAttempts = 0;

  constructor(
    private readonly deliver: (batch: T[]) => Promise<void>,
    opts: Partial<DeliveryOptions> = {},
  ) {
    this.opts = { ...DEFAULT_DELIVERY, ...opts };
    const sp = this.opts.spool;
    if (sp) {
      const name = sp.name ?? "sink";
      this.spool = new Spool<T>({ dir: sp.dir, name, maxItems: sp.maxItems ?? DEFAULT_SPOOL_ITEMS, maxBytes: sp.maxBytes ?? DEFAULT_SPOOL_BYTES });
      let loaded;
      try {
        loaded = this.spool.load();
      } catch (err) {
        throw new SinkStartError(name, `its spool ${this.spool.path} cannot be read: ${describeError(err)}`);
      }
      if (loaded.unreadable > 0) this.countDropped(`${loaded.unreadable} unreadable line(s) in ${this.spool.path} skipped`, loaded.unreadable);
      // What a previous run left is tried at once.
      if (this.spool.length > 0) this.schedule();
    }
  }

  /** Queues an item; false (and counted as dropped) when the buffer and the spool are full, or closed. */
  offer(item: T): boolean {
    if (this.closed) {
      this.countDropped("the sink is closed");
      return false;
    }
    // Behind a backlog on disk, or with the buffer full: to the spool, keeping the order.
    if (this.spool && (this.spool.length > 0 || this.buffer.length >= this.opts.capacity)) return this.toSpool([item]) === 0;
    if (this.buffer.length >= this.opts.capacity) {
      this.countDropped(`buffer full (${this.opts.capacity} alerts waiting)`);
      return false;
    }
    this.buffer.push(item);
    this.schedule();
    return true;
  }

  /** Counts items as dropped without queueing them (for reasons only the sink knows). */
  countDropped(reason: string, n = 1): void {
    this.counts.dropped += n;
    this.counts.dropReason = reason;
  }

  /** Records an error that happened outside deliver() (e.g. a stream's 'error' event). */
  noteError(message: string): void {
    this.counts.lastError = message;
  }

  /** True while items wait in the spool for the peer to come back. */
  get backlogged(): boolean {
    return (this.spool?.length ?? 0) > 0;
  }

  stats(): SinkStats {
    return { ...this.counts, queued: this.spool?.length ?? 0 };
  }

  /** Resolves when nothing is buffered in memory or in flight (a spooled backlog waits on disk). */
  flush(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops accepting items; waits up to closeTimeoutMs to drain, then spools (or, without a spool,
   * drops) what is still buffered. A spooled backlog stays on disk for the next start.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.spoolRetry);
    this.spoolRetry = undefined;
    // A backlog whose retry is due gets its try now, within the close timeout, rather than none.
    if (this.backlogged && Date.now() >= this.spoolDueAt) this.schedule();
    if (!(await this.drainedWithin(this.opts.closeTimeoutMs))) {
      this.giveUp.abort();
      // The batch in flight ends at its own timeout; wait for it, but not forever.
      await this.drainedWithin(this.opts.closeTimeoutMs);
    }
    const left = this.buffer.splice(0);
    if (left.length > 0) {
      if (this.spool) this.toSpool(left);
      else this.countDropped(`still waiting when the sink closed`, left.length);
    }
    clearTimeout(this.spoolRetry);
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

  /** Appends to the spool; what does not fit (or cannot be written) is dropped, counted and said. Returns how many were dropped. */
  private toSpool(items: T[]): number {
    const spool = this.spool!;
    let refused: number;
    try {
      refused = spool.push(items);
      if (refused > 0) this.countDropped(`spool full (${spool.length} alerts, ${spool.bytes} bytes in ${spool.path}): ${refused} dropped`, refused);
    } catch (err) {
      refused = items.length;
      this.countDropped(`cannot write the spool ${spool.path}: ${describeError(err)}`, refused);
    }
    this.scheduleSpool();
    return refused;
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

  /** The peer failed again: the spool's oldest batch is tried after a backoff that grows while it stays away. */
  private spoolFailed(): void {
    this.spoolDueAt = Date.now() + this.backoff(this.spoolAttempts++);
  }

  private scheduleSpool(): void {
    if (this.spoolRetry || this.closed || this.running) return;
    this.spoolRetry = setTimeout(() => {
      this.spoolRetry = undefined;
      this.schedule();
    }, Math.max(0, this.spoolDueAt - Date.now()));
    // A process with nothing else to do must not be kept alive by a retry timer (the spool is on disk).
    this.spoolRetry.unref();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.giveUp.signal.aborted) {
        if (this.spool && this.spool.length > 0) {
          if (Date.now() < this.spoolDueAt || !(await this.deliverSpooled())) break;
        } else if (this.buffer.length > 0) {
          await this.deliverBuffered(this.buffer.splice(0, this.opts.maxBatch));
        } else break;
      }
    } finally {
      this.running = false;
      if (this.spool && this.spool.length > 0) this.scheduleSpool();
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** One try of the spool's oldest batch; false when the peer still fails (the retry is scheduled). */
  private async deliverSpooled(): Promise<boolean> {
    const spool = this.spool!;
    const batch = spool.peek(this.opts.maxBatch);
    try {
      await this.deliver(batch);
      this.counts.sent += batch.length;
      this.spoolAttempts = 0;
    } catch (err) {
      this.counts.errors++;
      this.counts.lastError = describeError(err);
      if (!(err instanceof PermanentError)) {
        this.spoolFailed();
        return false;
      }
      this.counts.failed += batch.length;
    }
    try {
      spool.shift(batch.length);
    } catch (err) {
      // Delivered, but the file still lists them: the next start sends them again (never loses them).
      this.noteError(`cannot update the spool ${spool.path}: ${describeError(err)}`);
    }
    return true;
  }

  private async deliverBuffered(batch: T[]): Promise<void> {
    const outcome = await this.deliverWithRetry(batch);
    if (outcome === "sent") return;
    if (outcome === "unreachable" && this.spool) {
      // The peer is away: this batch and everything behind it wait on disk, in order.
      this.spoolFailed();
      this.toSpool([...batch, ...this.buffer.splice(0)]);
      return;
    }
    this.counts.failed += batch.length;
  }

  private async deliverWithRetry(batch: T[]): Promise<"sent" | "refused" | "unreachable"> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deliver(batch);
        this.counts.sent += batch.length;
        return "sent";
      } catch (err) {
        this.counts.errors++;
        this.counts.lastError = describeError(err);
        if (err instanceof PermanentError) return "refused";
        if (attempt >= this.opts.retries || this.giveUp.signal.aborted) return "unreachable";
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
