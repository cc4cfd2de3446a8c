// The fleet view's reading side: an ephemeral JetStream pull consumer over `hv.>`, from now or
// from a start time, made again after the last message seen whenever it is lost, turning each
// message into a FleetItem with the host it came from. Bad messages are counted and handed to
// onMalformed; they never end the watch.

import { setTimeout as sleep } from "node:timers/promises";
import type { Consumer, ConsumerMessages, JetStreamManager, JsMsg, NatsConnection } from "nats";
import { describeNatsError, natsLib } from "./connection.js";
import type { Alert } from "../events/alert.js";
import { parseActionResult, parseAlert, parseBlockMessage, type ActionResultMessage, type BlockMessage } from "./messages.js";
import { parseSubject, STREAM, WATCH_SUBJECTS } from "./subjects.js";

interface ItemBase {
  /** The host's fleet name (for a block: the host it was ordered from). */
  host: string;
  subject: string;
  /** Stream sequence: unique and increasing in HV_FLEET. */
  seq: number;
  /** When the stream stored it. */
  time: string;
}

export type FleetItem =
  | (ItemBase & { kind: "alert"; alert: Alert })
  | (ItemBase & { kind: "action"; action: ActionResultMessage })
  | (ItemBase & { kind: "block"; block: BlockMessage });

export interface WatchFleetOptions {
  nc: NatsConnection;
  /** Start this many ms back; absent: only what arrives from now on. */
  sinceMs?: number;
  /** Only these hosts (fleet names); blocks are always shown. */
  hosts?: string[];
  onItem(item: FleetItem): void;
  onMalformed?(subject: string, seq: number, error: string): void;
  /** The consumer was lost and is being recreated (a server died): for a note on stderr. */
  onRestart?(why: string): void;
  signal: AbortSignal;
}

export interface WatchStats {
  received: number;
  malformed: number;
}

const HOST_HEADER = "Hv-Host";

/**
 * Resolves with counts when the signal aborts. Throws only when the view cannot start (no stream
 * yet, no server). Later trouble — the server holding the consumer died, the stream's leader is
 * being elected, the link dropped — makes a new consumer from the message after the last one
 * seen, so the view neither skips nor repeats.
 *
 * hv manages its consumer itself (an ephemeral pull consumer read with bounded fetches) instead of
 * the client's self-healing ordered consumer: across a leader failover on a busy host, that one
 * was seen to stop delivering for good without a word, because its own recreation retried
 * inside the client with nothing bounding it. Here every step ends in bounded time: a fetch
 * returns by its expiry, an empty one is followed by a check that the consumer still exists,
 * and any failure means a new consumer.
 */
export async function watchFleet(opts: WatchFleetOptions): Promise<WatchStats> {
  const stats: WatchStats = { received: 0, malformed: 0 };
  const hosts = opts.hosts && opts.hosts.length > 0 ? new Set(opts.hosts) : undefined;
  const jsm = await opts.nc.jetstreamManager({ timeout: API_TIMEOUT_MS });
  // "From now on" is pinned to a stream sequence at the start, so a consumer made again after a
  // failure starts where the first one did rather than at a later "now".
  let nextSeq = opts.sinceMs === undefined ? (await jsm.streams.info(STREAM)).state.last_seq + 1 : undefined;
  const startTime = opts.sinceMs === undefined ? undefined : new Date(Date.now() - opts.sinceMs).toISOString();
  // The first consumer is made before the loop: when that fails, the view cannot start at all.
  let consumer: Consumer | undefined = await createConsumer(opts.nc, jsm, nextSeq, startTime);
  let failures = 0;
  while (!opts.signal.aborted) {
    try {
      consumer ??= await createConsumer(opts.nc, jsm, nextSeq, startTime);
      let got = 0;
      for await (const m of await fetchBatch(consumer, opts.signal)) {
        got++;
        // A new consumer starts at nextSeq; anything older is a message already shown.
        if (nextSeq !== undefined && m.seq < nextSeq) continue;
        nextSeq = m.seq + 1;
        stats.received++;
        const item = toItem(m);
        if ("error" in item) {
          stats.malformed++;
          opts.onMalformed?.(m.subject, m.seq, item.error);
          continue;
        }
        if (hosts && item.kind !== "block" && !hosts.has(item.host)) continue;
        opts.onItem(item);
      }
      // Nothing new, or a consumer that died with its server? Ask (a bounded request).
      if (got === 0 && !opts.signal.aborted) await consumer.info();
      failures = 0;
    } catch (err) {
      if (opts.signal.aborted) break;
      consumer = undefined;
      opts.onRestart?.(`fleet consumer lost (${describeNatsError(err)}); resuming at stream seq ${nextSeq ?? `the first message since ${startTime}`}`);
      await sleep(Math.min(5000, 250 * 2 ** failures++), undefined, { signal: opts.signal }).catch(() => undefined);
    }
  }
  return stats;
}

/** JetStream API requests of the view (consumer create/info, stream info). */
const API_TIMEOUT_MS = 5000;
/** One fetch waits at most this long for messages (the client closes it by 1.05 × this). */
const PULL_EXPIRES_MS = 4000;
/** A consumer nobody fetches from for this long is removed by the server (after a failover, the old one). */
const INACTIVE_MS = 60_000;

async function createConsumer(nc: NatsConnection, jsm: JetStreamManager, nextSeq: number | undefined, startTime: string | undefined): Promise<Consumer> {
  const { AckPolicy, DeliverPolicy, nanos } = await natsLib();
  const from =
    nextSeq !== undefined
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: nextSeq }
      : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: startTime };
  const info = await jsm.consumers.add(STREAM, {
    ...from,
    ack_policy: AckPolicy.None,
    // filter_subject, not filter_subjects: servers before 2.10 (Debian 12's) refuse the plural.
    filter_subject: WATCH_SUBJECTS,
    inactive_threshold: nanos(INACTIVE_MS),
    mem_storage: true,
    num_replicas: 1,
  });
  return nc.jetstream({ timeout: API_TIMEOUT_MS }).consumers.get(STREAM, info.name);
}

async function fetchBatch(consumer: Consumer, signal: AbortSignal): Promise<ConsumerMessages> {
  const batch = await consumer.fetch({ max_messages: 256, expires: PULL_EXPIRES_MS });
  const stop = (): void => void batch.close();
  signal.addEventListener("abort", stop, { once: true });
  void batch.closed().finally(() => signal.removeEventListener("abort", stop));
  return batch;
}

export function toItem(m: JsMsg): FleetItem | { error: string } {
  const where = parseSubject(m.subject);
  if (!where) return { error: `subject ${m.subject} is not an hv fleet subject` };
  const base = { subject: m.subject, seq: m.seq, time: m.info.timestampNanos ? new Date(m.info.timestampNanos / 1e6).toISOString() : new Date().toISOString() };
  const header = m.headers?.get(HOST_HEADER) || undefined;
  if (where.kind === "block") {
    const p = parseBlockMessage(m.data);
    return p.ok ? { ...base, kind: "block", host: p.value.origin, block: p.value } : { error: p.error };
  }
  if (where.kind === "action") {
    const p = parseActionResult(m.data);
    return p.ok ? { ...base, kind: "action", host: header ?? p.value.host, action: p.value } : { error: p.error };
  }
  const p = parseAlert(m.data);
  return p.ok ? { ...base, kind: "alert", host: header ?? p.value.host?.name ?? where.host, alert: p.value } : { error: p.error };
}
