// The fleet view's reading side: an ordered (ephemeral) JetStream consumer over `hv.>`, from now
// or from a start time, recreated after the last message seen whenever it is lost, turning each message into a FleetItem with the host it came from. Bad
// messages are counted and handed to onMalformed; they never end the watch.

import { setTimeout as sleep } from "node:timers/promises";
import { ConsumerEvents, DeliverPolicy, type ConsumerMessages, type JsMsg, type NatsConnection } from "nats";
import { describeNatsError } from "./connection.js";
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
 * Resolves with counts when the signal aborts. Throws only when the consumer cannot be created at
 * the start (no stream yet, no server). Later trouble — the server holding the consumer died, the
 * link dropped — restarts the consumer from the message after the last one seen, so the view
 * neither skips nor repeats.
 */
export async function watchFleet(opts: WatchFleetOptions): Promise<WatchStats> {
  const stats: WatchStats = { received: 0, malformed: 0 };
  const hosts = opts.hosts && opts.hosts.length > 0 ? new Set(opts.hosts) : undefined;
  let nextSeq: number | undefined;
  for (let attempt = 0; !opts.signal.aborted; attempt++) {
    let messages: ConsumerMessages;
    try {
      messages = await open(opts, nextSeq);
    } catch (err) {
      if (nextSeq === undefined && attempt === 0) throw err;
      opts.onRestart?.(`cannot resume the fleet consumer: ${describeNatsError(err)}`);
      await sleep(Math.min(5000, 250 * 2 ** attempt), undefined, { signal: opts.signal }).catch(() => undefined);
      continue;
    }
    const stop = (): void => void messages.close();
    opts.signal.addEventListener("abort", stop, { once: true });
    void closeWhenLost(messages);
    try {
      for await (const m of messages) {
        attempt = 0;
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
    } catch (err) {
      opts.onRestart?.(`fleet consumer failed: ${describeNatsError(err)}`);
    } finally {
      opts.signal.removeEventListener("abort", stop);
    }
    if (!opts.signal.aborted) opts.onRestart?.(`fleet consumer lost; resuming at stream seq ${nextSeq ?? "(start)"}`);
  }
  return stats;
}

// Short pulls with heartbeats: a consumer that died with its server is noticed within seconds.
const PULL_EXPIRES_MS = 4000;

function open(opts: WatchFleetOptions, nextSeq: number | undefined): Promise<ConsumerMessages> {
  const from =
    nextSeq !== undefined
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: nextSeq }
      : opts.sinceMs === undefined
        ? { deliver_policy: DeliverPolicy.New }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Date.now() - opts.sinceMs).toISOString() };
  return opts.nc
    .jetstream()
    .consumers.get(STREAM, { filterSubjects: WATCH_SUBJECTS, ...from })
    .then((c) => c.consume({ expires: PULL_EXPIRES_MS }));
}

/** Ends the iteration when heartbeats stop or the consumer is gone; the loop then starts a new one. */
async function closeWhenLost(messages: ConsumerMessages): Promise<void> {
  for await (const s of await messages.status()) {
    const lost =
      (s.type === ConsumerEvents.HeartbeatsMissed && Number(s.data) >= 2) || s.type === ConsumerEvents.ConsumerDeleted || s.type === ConsumerEvents.ConsumerNotFound;
    if (lost) {
      await messages.close();
      return;
    }
  }
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
