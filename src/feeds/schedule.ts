// The agent's feed scheduler: every tick it syncs, one at a time, each enabled feed whose
// schedule is due, and reports each result. A feed whose last attempt failed is retried sooner
// (after at most failureRetryMs) than its schedule, so a short outage does not cost a whole period.

import { onAbort } from "../events/abort.js";
import type Database from "better-sqlite3";
import { listFeeds, type StoredFeed } from "../store/feeds.js";
import { durationMs } from "../events/duration.js";
import { syncFeed, type SyncOptions, type SyncResult } from "./sync.js";

export interface SchedulerOptions {
  onResult: (r: SyncResult) => void;
  /** Errors that are not a feed's (the store going away); default: ignored after reporting to onError. */
  onError?: (err: Error) => void;
  signal: AbortSignal;
  now?: () => number;
  /** How often due feeds are looked for (default 60 s). */
  tickMs?: number;
  /** Retry after a failed or rejected attempt this soon, if the schedule is longer (default 15 min). */
  failureRetryMs?: number;
  sync?: Omit<SyncOptions, "signal" | "now">;
}

export const DEFAULT_FAILURE_RETRY_MS = 15 * 60_000;

/** When the feed is next due (ms since the epoch), or undefined when it is never synced automatically. */
export function nextDue(feed: StoredFeed, failureRetryMs = DEFAULT_FAILURE_RETRY_MS): number | undefined {
  if (!feed.enabled || !feed.schedule) return undefined;
  const every = durationMs(feed.schedule, "schedule");
  if (!feed.lastAttempt) return 0;
  const last = Date.parse(feed.lastAttempt);
  const failed = feed.lastError !== undefined;
  return last + (failed ? Math.min(every, failureRetryMs) : every);
}

/** Names of the feeds due at `now`, most overdue first. */
export function dueFeeds(db: Database.Database, now: number, failureRetryMs?: number): string[] {
  return listFeeds(db)
    .map((f) => ({ name: f.name, due: nextDue(f, failureRetryMs) }))
    .filter((f): f is { name: string; due: number } => f.due !== undefined && f.due <= now)
    .sort((a, b) => a.due - b.due)
    .map((f) => f.name);
}

export function startFeedScheduler(db: Database.Database, opts: SchedulerOptions): { stop(): void; idle(): Promise<void> } {
  const now = opts.now ?? Date.now;
  let running: Promise<void> = Promise.resolve();
  let busy = false;
  let stopped = false;

  const runDue = async (): Promise<void> => {
    for (const name of dueFeeds(db, now(), opts.failureRetryMs)) {
      if (stopped || opts.signal.aborted) return;
      try {
        opts.onResult(await syncFeed(db, name, { ...opts.sync, signal: opts.signal, now }));
      } catch (err) {
        opts.onError?.(err as Error);
      }
    }
  };
  const tick = (): void => {
    if (busy || stopped) return;
    busy = true;
    running = runDue().finally(() => {
      busy = false;
    });
  };
  const timer = setInterval(tick, opts.tickMs ?? 60_000);
  timer.unref?.();
  const first = setTimeout(tick, 0);
  const stop = (): void => {
    stopped = true;
    clearInterval(timer);
    clearTimeout(first);
  };
  onAbort(opts.signal, stop);
  return { stop, idle: () => running };
}
