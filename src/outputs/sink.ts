// One interface for every alert sink (DESIGN.md "outputs"). A sink sits at the end of the
// pipeline, so it must never hold the pipeline up nor crash it: send() only hands the alert to
// the sink's own bounded buffer and always resolves; delivery, retries and failures happen in the
// background and show up in stats(), never as a thrown error.

import type { Alert } from "../events/alert.js";
import type { FleetActionResult } from "../fleet/messages.js";
import { InputError } from "../events/input.js";

export interface SinkStats {
  /** Alerts the peer accepted (or, for streams and datagrams, that were written without error). */
  sent: number;
  /** Alerts given up on: the peer refused them for good (e.g. HTTP 400), or every retry failed and there is no spool. */
  failed: number;
  /** Alerts lost without delivery: the buffer (and the spool) were full, or the sink was closed. */
  dropped: number;
  /** Alerts waiting in the spool on disk for the peer to come back (retried, also after a restart). */
  queued: number;
  /** Delivery attempts that failed (a retry that then succeeded counts too). */
  errors: number;
  /** The most recent delivery error, also one that a retry then got past. */
  lastError?: string;
  /** Why alerts were last dropped (buffer full, spool full, closed). */
  dropReason?: string;
}

export interface AlertSink {
  readonly name: string;
  /**
   * Checks what must work before the first alert (a jsonl file can be opened, a unix socket
   * exists); throws SinkStartError naming the sink when it cannot. A peer that is merely down is
   * not a start error: its alerts wait in the spool.
   */
  start?(): Promise<void>;
  /** Queues the alert and returns at once; never rejects. */
  send(alert: Alert): Promise<void>;
  /** Resolves once everything queued so far is delivered or given up on. */
  flush?(): Promise<void>;
  /** Stops accepting alerts, delivers what it can within the sink's close timeout, releases sockets and files. */
  close(): Promise<void>;
  stats(): SinkStats;
  /** A sink that carries action results too (the fleet's NATS link): queues one; false when it has no room. */
  publishActionResult?(result: FleetActionResult): boolean;
}

/**
 * Publishes an action result through every sink among `sinks` that carries them. Never throws
 * nor waits; returns how many sinks took it (0 when none is configured).
 */
export function publishActionResult(sinks: readonly AlertSink[], result: FleetActionResult): number {
  let taken = 0;
  for (const s of sinks) if (s.publishActionResult?.(result)) taken++;
  return taken;
}

/** A sink that cannot work as configured (e.g. a jsonl file in a directory that does not exist): exit 2 at the CLI. */
export class SinkStartError extends InputError {
  override readonly name = "SinkStartError";

  constructor(
    readonly sink: string,
    reason: string,
  ) {
    super(`sink ${sink} cannot start: ${reason}`);
  }
}
