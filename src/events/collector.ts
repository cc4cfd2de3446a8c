import type { HvEvent } from "./event.js";

/**
 * Where a batch of events came from, so the store can commit the read position in the same
 * transaction as the events (a restart then neither skips nor repeats).
 */
export interface Checkpoint {
  source: string;
  inode: string;
  offset: number;
}

/** An event on its way through the pipeline, with the position that is safe to resume from once it is stored. */
export interface Envelope {
  event: HvEvent;
  checkpoint?: Checkpoint;
}

/**
 * One interface for every data source (after CrowdSec's data sources): `run` streams until the
 * source ends or `signal` aborts. `live` sources cannot be paused, so the queue drops (and counts)
 * when full; file sources are paused by backpressure instead.
 */
export interface Collector {
  readonly name: string;
  readonly live: boolean;
  run(emit: (item: Envelope) => Promise<void> | void, signal: AbortSignal): Promise<void>;
}
