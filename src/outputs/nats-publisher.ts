// Publishing to JetStream without ever holding up the caller: messages go into a bounded buffer
// (src/outputs/delivery.ts) and a worker publishes them in batches, waiting for each publish ack.
// A batch that is not fully acked (server killed, leader election, link down) is published again
// whole, with the same message ids: JetStream drops the copies it already stored (duplicate
// window), so a retry across a failover neither loses nor duplicates a message. A message counts
// as sent only once JetStream acknowledged it; with a spool (the agent's STATE/outbox), what the
// retries could not deliver waits on disk, in order, for the stream to come back, also across
// restarts (src/outputs/delivery.ts).

import type { NatsConnection } from "nats";
import { Delivery, describeError, type DeliveryOptions } from "./delivery.js";
import type { SinkStats } from "./sink.js";
import { connectFleet, describeNatsError, ensureStream, natsLib, type FleetConnectionOptions, type StreamOptions } from "../fleet/connection.js";

export interface Outgoing {
  subject: string;
  /** The message body (JSON text): a string, so that a spooled message is one line of JSON. */
  data: string;
  /** Nats-Msg-Id: the same for every attempt at the same message. */
  msgId: string;
  headers?: Record<string, string>;
}

export interface FleetPublisherOptions extends FleetConnectionOptions {
  /** Settings of HV_FLEET when this publisher creates it. */
  stream?: StreamOptions;
  /** false: never create the stream (an administrator manages it). Default true. */
  createStream?: boolean;
  /** How long to wait for one publish ack (default 5 s). */
  publishTimeoutMs?: number;
  delivery?: Partial<DeliveryOptions>;
}

export interface FleetPublisherStats extends SinkStats {
  /** Publish attempts that failed and were retried or given up (not counting the first success). */
  failedAttempts: number;
  /** Acks that said "already stored": a retry of a message that had made it. */
  duplicates: number;
  connects: number;
  reconnects: number;
  disconnects: number;
  connected: boolean;
  /** server_name of the server connected to now. */
  server?: string;
}

// A fleet link rides out a server restart or a leader election: more patience than an HTTP sink.
export const NATS_DELIVERY: Partial<DeliveryOptions> = { capacity: 10_000, maxBatch: 64, retries: 12, backoffMs: 250, maxBackoffMs: 10_000 };

export class FleetPublisher {
  private readonly delivery: Delivery<Outgoing>;
  private nc: Promise<NatsConnection> | undefined;
  private current: NatsConnection | undefined;
  private closed = false;
  private readonly counts = { failedAttempts: 0, duplicates: 0, connects: 0, reconnects: 0, disconnects: 0 };

  constructor(private readonly opts: FleetPublisherOptions) {
    this.delivery = new Delivery((batch) => this.publishBatch(batch), { ...NATS_DELIVERY, ...opts.delivery });
  }

  /** Queues a message; false (counted as dropped) when the buffer is full or the publisher closed. */
  offer(message: Outgoing): boolean {
    return this.delivery.offer(message);
  }

  countDropped(reason: string): void {
    this.delivery.countDropped(reason);
  }

  flush(): Promise<void> {
    return this.delivery.flush();
  }

  async close(): Promise<void> {
    await this.delivery.close();
    this.closed = true;
    const nc = await this.nc?.catch(() => undefined);
    await nc?.close();
  }

  stats(): FleetPublisherStats {
    const server = this.current?.isClosed() === false ? this.current.info?.server_name : undefined;
    return { ...this.delivery.stats(), ...this.counts, connected: server !== undefined, ...(server ? { server } : {}) };
  }

  private async publishBatch(batch: Outgoing[]): Promise<void> {
    try {
      const nc = await this.connection();
      const { headers: natsHeaders } = await natsLib();
      const js = nc.jetstream({ timeout: this.opts.publishTimeoutMs ?? 5000 });
      const acks = await Promise.allSettled(
        batch.map((m) => {
          const h = natsHeaders();
          for (const [k, v] of Object.entries(m.headers ?? {})) h.set(k, v);
          return js.publish(m.subject, m.data, { msgID: m.msgId, headers: h });
        }),
      );
      for (const a of acks) if (a.status === "fulfilled" && a.value.duplicate) this.counts.duplicates++;
      const failed = acks.find((a): a is PromiseRejectedResult => a.status === "rejected");
      if (failed) throw new Error(`${acks.filter((a) => a.status === "rejected").length} of ${batch.length} not acked: ${describeNatsError(failed.reason)}`);
    } catch (err) {
      this.counts.failedAttempts++;
      throw new Error(describeError(err));
    }
  }

  /** The live connection, connecting (and creating the stream) first when there is none. */
  private connection(): Promise<NatsConnection> {
    if (this.closed) return Promise.reject(new Error("publisher closed"));
    this.nc ??= this.open().catch((err: unknown) => {
      this.nc = undefined;
      throw err;
    });
    return this.nc;
  }

  private async open(): Promise<NatsConnection> {
    const nc = await connectFleet(this.opts);
    try {
      if (this.opts.createStream !== false) await ensureStream(await nc.jetstreamManager(), this.opts.stream);
    } catch (err) {
      await nc.close();
      throw err;
    }
    this.counts.connects++;
    this.current = nc;
    void this.watchStatus(nc);
    // Closed for good (auth revoked, close()): the next batch connects afresh.
    void nc.closed().then(() => {
      if (this.current === nc) this.nc = undefined;
    });
    return nc;
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    const { Events } = await natsLib();
    for await (const s of nc.status()) {
      if (s.type === Events.Reconnect) this.counts.reconnects++;
      else if (s.type === Events.Disconnect) this.counts.disconnects++;
    }
  }
}
