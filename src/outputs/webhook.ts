// Alerts as HTTP POSTs: the Alert itself as JSON ("json"), or a Slack-compatible message
// ("slack": `{ text, blocks }`, accepted by Slack incoming webhooks and by Mattermost and
// Rocket.Chat, which read `text`). One alert per request, in order.

import type { Alert } from "../events/alert.js";
import { Delivery, forSink, type DeliveryOptions } from "./delivery.js";
import { postJson } from "./http.js";
import type { AlertSink, SinkStats } from "./sink.js";

export type WebhookFormat = "json" | "slack";

export interface WebhookSinkOptions {
  name?: string;
  url: string;
  format?: WebhookFormat;
  /** Extra request headers, e.g. `{ authorization: "Bearer …" }`. */
  headers?: Record<string, string>;
  timeoutMs?: number;
  delivery?: Partial<DeliveryOptions>;
}

export class WebhookSink implements AlertSink {
  readonly name: string;
  private readonly delivery: Delivery<Alert>;

  constructor(opts: WebhookSinkOptions) {
    const format = opts.format ?? "json";
    this.name = opts.name ?? `webhook:${new URL(opts.url).host}`;
    const post = { timeoutMs: opts.timeoutMs ?? 10_000, ...(opts.headers ? { headers: opts.headers } : {}) };
    this.delivery = new Delivery(
      async ([alert]) => {
        if (alert) await postJson(opts.url, format === "slack" ? slackMessage(alert) : alert, post);
      },
      { ...forSink(opts.delivery, this.name), maxBatch: 1 },
    );
  }

  send(alert: Alert): Promise<void> {
    this.delivery.offer(alert);
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return this.delivery.flush();
  }

  close(): Promise<void> {
    return this.delivery.close();
  }

  stats(): SinkStats {
    return this.delivery.stats();
  }
}

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

/** `[HIGH] Rule title — vm web-1, ip 203.0.113.5 (3×)`: what a person reads in a notification. */
export function slackText(alert: Alert): string {
  const where: string[] = [];
  if (alert.vm?.name) where.push(`vm ${alert.vm.name}`);
  if (!(alert.entity.kind === "vm" && alert.entity.id === alert.vm?.name)) where.push(`${alert.entity.kind} ${alert.entity.id}`);
  const count = alert.count > 1 ? ` (${alert.count}×)` : "";
  return `[${alert.severity.toUpperCase()}] ${alert.rule.title} — ${where.join(", ")}${count}`;
}

export function slackMessage(alert: Alert): SlackMessage {
  const text = escapeMrkdwn(slackText(alert));
  const context = [`rule \`${alert.rule.id}\``, alert.host?.name ? `host ${alert.host.name}` : undefined, `last seen ${alert.last_seen}`];
  if (alert.mitre.techniques.length > 0) context.push(`MITRE ${alert.mitre.techniques.join(", ")}`);
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: alert.summary ? `*${text}*\n${escapeMrkdwn(alert.summary)}` : `*${text}*` } },
      { type: "context", elements: context.filter((c) => c !== undefined).map((c) => ({ type: "mrkdwn", text: escapeMrkdwn(c) })) },
    ],
  };
}

// Slack reads <…> as links and mentions: text from events (command lines, names) must not make any.
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
