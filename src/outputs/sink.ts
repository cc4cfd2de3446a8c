// One interface for every alert sink (DESIGN.md "outputs"). A sink sits at the end of the
// pipeline, so it must never hold the pipeline up nor crash it: send() only hands the alert to
// the sink's own bounded buffer and always resolves; delivery, retries and failures happen in the
// background and show up in stats(), never as a thrown error.

import type { Alert } from "../events/alert.js";

export interface SinkStats {
  /** Alerts the peer accepted (or, for streams and datagrams, that were written without error). */
  sent: number;
  /** Alerts given up on: every retry failed, or the peer refused them for good (e.g. HTTP 400). */
  failed: number;
  /** Alerts never attempted: the buffer was full, the sink was closed, or they were still buffered at close. */
  dropped: number;
  /** The most recent delivery error, also one that a retry then got past. */
  lastError?: string;
}

export interface AlertSink {
  readonly name: string;
  /** Queues the alert and returns at once; never rejects. */
  send(alert: Alert): Promise<void>;
  /** Resolves once everything queued so far is delivered or given up on. */
  flush?(): Promise<void>;
  /** Stops accepting alerts, delivers what it can within the sink's close timeout, releases sockets and files. */
  close(): Promise<void>;
  stats(): SinkStats;
}
