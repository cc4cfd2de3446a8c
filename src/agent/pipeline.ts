// Wiring of the running agent: collectors → bounded queue → batched store → downstream stages.
// Downstream only ever sees events the store had not seen before, so a restart that re-reads a
// little of a file never produces an event (or later an alert) twice.

import type Database from "better-sqlite3";
import type { Collector, Envelope } from "../events/collector.js";
import type { HvEvent } from "../events/event.js";
import { BoundedQueue } from "../events/queue.js";
import { BatchWriter } from "../store/writer.js";

export interface PipelineOptions {
  db: Database.Database;
  collectors: Collector[];
  queueCapacity?: number;
  batchSize?: number;
  flushIntervalMs?: number;
  /** Adds what other stages know (the VM, hv's own actions) to each event before it is stored. */
  enrich?: (event: HvEvent) => void;
  /** Called with each batch of newly stored events. */
  onEvents?: (events: HvEvent[]) => void;
  onError?: (err: unknown, where: string) => void;
}

export interface PipelineStats {
  accepted: number;
  queued: number;
  stored: number;
  duplicates: number;
  drops: Record<string, number>;
}

export interface RunningPipeline {
  stats(): PipelineStats;
  /** Resolves when every collector has ended (or the signal aborted) and everything queued is stored. */
  done: Promise<void>;
}

export function startPipeline(opts: PipelineOptions, signal: AbortSignal): RunningPipeline {
  const queue = new BoundedQueue<Envelope>(opts.queueCapacity ?? 10_000);
  const writer = new BatchWriter(opts.db, {
    batchSize: opts.batchSize ?? 500,
    flushIntervalMs: opts.flushIntervalMs ?? 200,
    onStored: (events) => opts.onEvents?.(events),
    onError: (err) => opts.onError?.(err, "store"),
  });

  const producers = opts.collectors.map(async (c) => {
    const emit = c.live
      ? (item: Envelope) => void queue.offer(item, c.name)
      : (item: Envelope) => queue.push(item);
    try {
      await c.run(emit, signal);
    } catch (err) {
      if (!signal.aborted) opts.onError?.(err, c.name);
    }
  });

  const consumer = (async () => {
    for await (const item of queue) {
      if (opts.enrich) {
        // In queue order and before storing: the store's vm_name column comes from here. A failing
        // enrichment costs the event its VM, never the event.
        try {
          opts.enrich(item.event);
        } catch (err) {
          opts.onError?.(err, "enrich");
        }
      }
      try {
        writer.add(item);
      } catch (err) {
        // add() stores synchronously once a batch is full. A failed batch stays pending and goes
        // with the next flush, as after a failed timer flush; the consumer must go on draining,
        // or producers waiting on the full queue (and `done`) would wait forever.
        opts.onError?.(err, "store");
      }
    }
    try {
      writer.close();
    } catch (err) {
      // What is still pending is not stored, and neither is its checkpoint: a restart reads it again.
      opts.onError?.(err, "store");
    }
  })();

  const done = (async () => {
    await Promise.all(producers);
    queue.close();
    await consumer;
  })();

  return {
    done,
    stats: () => ({
      accepted: queue.accepted,
      queued: queue.length,
      stored: writer.counters.stored,
      duplicates: writer.counters.ignoredDuplicates,
      drops: queue.drops(),
    }),
  };
}
