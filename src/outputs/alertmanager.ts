// Alerts to a Prometheus Alertmanager (API v2, POST /api/v2/alerts). Dedup, grouping, silences,
// inhibition and routing to people then happen in Alertmanager.
//
// Alertmanager knows an alert by its label set, so labels say *what* the alert is and stay
// stable for its life: rule, severity, host, VM, entity. Anything that changes from one send to
// the next (event ids, count, timestamps) goes into annotations, or every update would be a new
// alert. alertname is the rule's title, which is what people see and route on; rule_id keeps the
// exact id for matchers that must not break when a title is edited.
//
// Like Prometheus, this sink resends every active alert periodically, each time with endsAt a few
// resend intervals ahead: while hv runs the alert stays firing; if hv dies, Alertmanager resolves
// it by itself once endsAt passes, whatever its resolve_timeout. resolve() (and an alert sent
// with status "acked") sends endsAt = now, which resolves it at once.
//
// For an Alertmanager cluster, configure one sink per instance (as Prometheus does): the
// instances share silences and notification state, but each must receive the alerts.

import { hostname } from "node:os";
import type { Alert } from "../events/alert.js";
import { Delivery, forSink, type DeliveryOptions } from "./delivery.js";
import { postJson } from "./http.js";
import type { AlertSink, SinkStats } from "./sink.js";

/** One element of the POST /api/v2/alerts body (Alertmanager's `postableAlert`). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

export interface AlertmanagerSinkOptions {
  name?: string;
  /** Alertmanager's base URL, e.g. http://127.0.0.1:9093 (with its route prefix, if any). */
  url: string;
  /** How often active alerts are sent again. Default 60 s (Prometheus' default resend delay). */
  resendIntervalMs?: number;
  /** Active alerts remembered for resending; past that the oldest is forgotten (and counted as dropped). */
  maxActive?: number;
  /** Link back to hv in notifications; `/alerts/<id>` is appended when the alert has a store id. */
  generatorUrl?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  delivery?: Partial<DeliveryOptions>;
}

// Firing alerts expire this many resend intervals after they were last sent (Prometheus uses 4).
const EXPIRY_INTERVALS = 4;

export class AlertmanagerSink implements AlertSink {
  readonly name: string;
  private readonly delivery: Delivery<PostableAlert>;
  private readonly resendIntervalMs: number;
  private readonly maxActive: number;
  // Active alerts by label set, oldest first (a Map keeps insertion order; updates move to the end).
  private readonly active = new Map<string, Alert>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: AlertmanagerSinkOptions) {
    this.name = opts.name ?? `alertmanager:${new URL(opts.url).host}`;
    this.resendIntervalMs = opts.resendIntervalMs ?? 60_000;
    this.maxActive = opts.maxActive ?? 10_000;
    const endpoint = new URL("api/v2/alerts", opts.url.endsWith("/") ? opts.url : `${opts.url}/`).toString();
    const post = { timeoutMs: opts.timeoutMs ?? 10_000, ...(opts.headers ? { headers: opts.headers } : {}) };
    this.delivery = new Delivery((batch) => postJson(endpoint, batch, post), { maxBatch: 64, ...forSink(opts.delivery, this.name) });
    this.timer = setInterval(() => this.resend(), this.resendIntervalMs);
    // The daemon closes its sinks; a forgotten timer must not keep a CLI run or a test alive.
    this.timer.unref();
  }

  send(alert: Alert): Promise<void> {
    if (alert.status === "acked") return this.resolve(alert);
    const key = labelKey(alertLabels(alert));
    this.active.delete(key);
    this.active.set(key, alert);
    if (this.active.size > this.maxActive) {
      const oldest = this.active.keys().next().value as string;
      this.active.delete(oldest);
      this.delivery.countDropped(`more than ${this.maxActive} active alerts: stopped resending the oldest`);
    }
    this.delivery.offer(this.firing(alert));
    return Promise.resolve();
  }

  /** Tells Alertmanager the alert is over (endsAt = now) and stops resending it. */
  resolve(alert: Alert): Promise<void> {
    this.active.delete(labelKey(alertLabels(alert)));
    const startsAt = startOf(alert);
    // Alertmanager rejects an endsAt before startsAt (clock skew, an alert dated in the future).
    const endsAt = new Date(Math.max(Date.now(), Date.parse(startsAt)));
    this.delivery.offer(toPostableAlert(alert, endsAt, this.opts.generatorUrl));
    return Promise.resolve();
  }

  /** Alerts being resent, for health reporting. */
  activeCount(): number {
    return this.active.size;
  }

  flush(): Promise<void> {
    return this.delivery.flush();
  }

  /** Stops resending; does not resolve anything: the alerts stay firing until their endsAt. */
  close(): Promise<void> {
    clearInterval(this.timer);
    return this.delivery.close();
  }

  stats(): SinkStats {
    return this.delivery.stats();
  }

  private firing(alert: Alert): PostableAlert {
    return toPostableAlert(alert, new Date(Date.now() + EXPIRY_INTERVALS * this.resendIntervalMs), this.opts.generatorUrl);
  }

  private resend(): void {
    // While a backlog waits on disk, Alertmanager is away: the backlog holds these alerts already,
    // and a resend every interval would only fill the spool with copies.
    if (this.delivery.backlogged) return;
    for (const alert of this.active.values()) this.delivery.offer(this.firing(alert));
  }
}

/** The labels that identify an alert in Alertmanager: low-cardinality, stable over its life. */
export function alertLabels(alert: Alert): Record<string, string> {
  return compact({
    alertname: alert.rule.title || alert.rule.id,
    severity: alert.severity,
    rule_id: alert.rule.id,
    detector: alert.rule.source,
    host: alert.host?.name ?? hostname(),
    vm: alert.vm?.name,
    entity_kind: alert.entity.kind,
    entity: alert.entity.id,
  });
}

export function toPostableAlert(alert: Alert, endsAt: Date, generatorUrl?: string): PostableAlert {
  const mitre = [...alert.mitre.tactics, ...alert.mitre.techniques].join(", ");
  const out: PostableAlert = {
    labels: alertLabels(alert),
    annotations: compact({
      summary: alert.summary ? `${alert.rule.title}: ${alert.summary}` : alert.rule.title,
      description: alert.rule.description,
      event_ids: alert.event_ids.join(","),
      mitre,
      count: String(alert.count),
      first_seen: alert.first_seen,
      last_seen: alert.last_seen,
      vm_uuid: alert.vm?.uuid,
      alert_id: alert.id === undefined ? undefined : String(alert.id),
    }),
    startsAt: startOf(alert),
    endsAt: endsAt.toISOString(),
  };
  if (generatorUrl) out.generatorURL = alert.id === undefined ? generatorUrl : `${generatorUrl.replace(/\/$/, "")}/alerts/${alert.id}`;
  return out;
}

function startOf(alert: Alert): string {
  const ms = Date.parse(alert.first_seen);
  return new Date(Number.isNaN(ms) ? Date.now() : ms).toISOString();
}

// Alertmanager treats an empty label or annotation as absent; leave them out rather than send "".
function compact(record: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ""));
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
