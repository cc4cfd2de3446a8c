import type Database from "better-sqlite3";
import type { Envelope } from "../events/collector.js";
import type { HvEvent } from "../events/event.js";
import { storeBatch } from "./events.js";

export interface BatchWriterOptions {
  /** Store as soon as this many envelopes are pending (default 500). */
  batchSize?: number;
  /** Store at most this long after the first pending envelope arrived (default 200 ms). */
  flushIntervalMs?: number;
  /** Receives the newly stored events of each batch (never duplicates), after the commit. */
  onStored?: (events: HvEvent[]) => void;
  /** Receives errors of flushes started by the timer, which have no caller to throw to. */
  onError?: (err: unknown) => void;
}

export interface BatchWriterCounters {
  /** Committed batches. */
  batches: number;
  /** Events newly stored. */
  stored: number;
  /** Envelopes skipped because their event was already stored. */
  ignoredDuplicates: number;
  /** Flushes that failed (their envelopes stay pending and go with the next flush). */
  failures: number;
}

/**
 * Groups envelopes into transactions: one commit per event would cap ingest at a few thousand
 * events a second, while a batch costs about the same as a single insert.
 */
export class BatchWriter {
  readonly counters: BatchWriterCounters = { batches: 0, stored: 0, ignoredDuplicates: 0, failures: 0 };
  private pending: Envelope[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;

  constructor(
    private readonly db: Database.Database,
    private readonly options: BatchWriterOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${this.batchSize}`);
    if (!(this.flushIntervalMs >= 0)) throw new RangeError(`flushIntervalMs must be >= 0, got ${this.flushIntervalMs}`);
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Queues one envelope; stores the batch synchronously (and may throw) once batchSize is reached. */
  add(env: Envelope): void {
    if (this.closed) throw new Error("BatchWriter is closed");
    this.pending.push(env);
    if (this.pending.length >= this.batchSize) {
      this.flush();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flushFromTimer(), this.flushIntervalMs);
      // Pending events must not keep a finished process alive; shutdown calls close() to store them.
      this.timer.unref();
    }
  }

  /**
   * Stores everything pending now and returns the newly stored events. On failure nothing of the
   * batch is stored (no events, no checkpoint), the envelopes stay pending, and the error is thrown.
   */
  flush(): HvEvent[] {
    this.clearTimer();
    if (this.pending.length === 0) return [];
    const batch = this.pending;
    this.pending = [];
    let fresh: HvEvent[];
    try {
      fresh = storeBatch(this.db, batch);
    } catch (err) {
      this.counters.failures++;
      // Envelopes added meanwhile (from a callback) go after the failed batch, keeping source order.
      this.pending = batch.concat(this.pending);
      throw err;
    }
    this.counters.batches++;
    this.counters.stored += fresh.length;
    this.counters.ignoredDuplicates += batch.length - fresh.length;
    if (fresh.length > 0) this.options.onStored?.(fresh);
    return fresh;
  }

  /** Stores what is pending and refuses further envelopes. Does not close the database. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }

  private flushFromTimer(): void {
    this.timer = undefined;
    try {
      this.flush();
    } catch (err) {
      if (this.options.onError === undefined) throw err;
      this.options.onError(err);
    }
    // A failed batch is still pending; try again after another interval rather than waiting for more input.
    if (this.pending.length > 0 && this.timer === undefined && !this.closed) {
      this.timer = setTimeout(() => this.flushFromTimer(), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
