// Alerts to NATS JetStream, for a fleet of hosts (docs/fleet.md): each alert (and each update of
// it) is published to `hv.<host>.alerts` in the HV_FLEET stream, as the Alert JSON, with headers
// Hv-Host (this host's fleet name) and Nats-Msg-Id (a hash of host and content), so a publish
// retried after a reconnect or a failover is stored once. Action results go to `hv.<host>.actions`.

import { createHash } from "node:crypto";
import { hostname } from "node:os";
import type { Alert } from "../events/alert.js";
import type { StreamOptions } from "../fleet/connection.js";
import type { ActionResultMessage, FleetActionResult } from "../fleet/messages.js";
import { FleetPublisher, type FleetPublisherOptions, type FleetPublisherStats, type Outgoing } from "./nats-publisher.js";
import { forSink } from "./delivery.js";
import { actionsSubject, alertsSubject } from "../fleet/subjects.js";
import type { AlertSink } from "./sink.js";

export interface NatsSinkOptions extends FleetPublisherOptions {
  name?: string;
  /** This host's name in the fleet (default: os.hostname()). */
  host?: string;
  stream?: StreamOptions;
}

export const HOST_HEADER = "Hv-Host";

export class NatsSink implements AlertSink {
  readonly name: string;
  readonly host: string;
  private readonly publisher: FleetPublisher;

  constructor(opts: NatsSinkOptions) {
    this.host = opts.host ?? hostname();
    this.name = opts.name ?? `nats:${serverLabel(opts.servers[0])}`;
    this.publisher = new FleetPublisher({ name: `hv ${this.host}`, ...opts, delivery: forSink(opts.delivery, this.name) });
  }

  send(alert: Alert): Promise<void> {
    this.publisher.offer(this.message(alertsSubject(this.host), alert));
    return Promise.resolve();
  }

  /** Queues an action result for `hv.<host>.actions`; false when the buffer is full or closed. */
  publishActionResult(result: FleetActionResult): boolean {
    const message: ActionResultMessage = { ...result, v: 1, host: this.host, at: result.at ?? new Date().toISOString() };
    return this.publisher.offer(this.message(actionsSubject(this.host), message));
  }

  flush(): Promise<void> {
    return this.publisher.flush();
  }

  close(): Promise<void> {
    return this.publisher.close();
  }

  stats(): FleetPublisherStats {
    return this.publisher.stats();
  }

  private message(subject: string, payload: unknown): Outgoing {
    const data = JSON.stringify(payload);
    // The same content from the same host is the same message: retries and resends collapse.
    const msgId = createHash("sha256").update(this.host).update("\n").update(subject).update("\n").update(data).digest("base64url").slice(0, 32);
    return { subject, data, msgId, headers: { [HOST_HEADER]: this.host } };
  }
}

function serverLabel(server: string | undefined): string {
  if (server === undefined) return "?";
  try {
    return new URL(server.includes("://") ? server : `nats://${server}`).host;
  } catch {
    return server;
  }
}
