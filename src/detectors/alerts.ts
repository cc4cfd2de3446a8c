// Detections → alerts. The same rule about the same entity (and the same target, for detectors
// that name one) within the window is one alert whose count grows, so a noisy rule produces one
// line to read rather than hundreds, while a scanner moving to a new network is a new line. The window runs on
// event time, so a replayed log deduplicates exactly as the live stream did.

import type Database from "better-sqlite3";
import type { Alert, AlertEntity, Detection } from "../events/alert.js";
import type { HvEvent } from "../events/event.js";
import { alertStatus, findOpenAlert, saveAlert } from "../store/alerts.js";

export interface AlerterOptions {
  /** Alerts are stored (and deduplicated across restarts) when a store is given. */
  db?: Database.Database;
  /** Deduplication window (default 10 minutes). */
  windowMs?: number;
  /** Most event ids kept on one alert; the newest are kept (default 50). */
  maxEventIds?: number;
}

export interface AlertUpdate {
  alert: Alert;
  /** First time this rule fired for this entity within the window. */
  isNew: boolean;
}

export class Alerter {
  private readonly open = new Map<string, Alert>();
  private readonly windowMs: number;
  private readonly maxEventIds: number;
  readonly counts = { detections: 0, alerts: 0, deduplicated: 0 };

  constructor(private readonly options: AlerterOptions = {}) {
    this.windowMs = options.windowMs ?? 10 * 60 * 1000;
    this.maxEventIds = options.maxEventIds ?? 50;
  }

  /** `signal`: the alert is stored and counted but not sent on (src/agent/routing.ts). */
  process(d: Detection, opts: { signal?: boolean } = {}): AlertUpdate {
    this.counts.detections++;
    const events = d.events;
    const last = events[events.length - 1];
    const seenAt = last ? last["@timestamp"] : new Date().toISOString();
    const seenMs = Date.parse(seenAt);
    const entity = d.entity ?? entityOf(events);
    const key = `${d.rule.id}\u0000${entity.kind}\u0000${entity.id}\u0000${d.target ?? ""}`;
    const existing = this.findOpen(key, d.rule.id, entity, d.target, seenMs);
    if (existing) {
      this.counts.deduplicated++;
      const ids = [...existing.event_ids, ...events.map((e) => e.event.id).filter((id) => !existing.event_ids.includes(id))];
      const updated: Alert = {
        ...existing,
        "@timestamp": maxIso(existing.last_seen, seenAt),
        last_seen: maxIso(existing.last_seen, seenAt),
        count: existing.count + 1,
        event_ids: ids.slice(-this.maxEventIds),
        // The newest evidence explains the alert best (a higher score, the latest feed entry).
        ...(d.threat ? { threat: d.threat } : {}),
        ...(d.anomaly ? { anomaly: d.anomaly } : {}),
      };
      return { alert: this.keep(key, updated), isNew: false };
    }
    this.counts.alerts++;
    const first = events[0];
    const alert: Alert = {
      "@timestamp": seenAt,
      first_seen: first ? first["@timestamp"] : seenAt,
      last_seen: seenAt,
      count: 1,
      rule: d.rule,
      severity: d.severity,
      mitre: mitreOf(d.rule.tags ?? []),
      entity,
      ...(d.target !== undefined ? { target: d.target } : {}),
      event_ids: events.map((e) => e.event.id).slice(-this.maxEventIds),
      status: "open",
      ...contextOf(last),
    };
    if (opts.signal) alert.signal = true;
    if (d.summary) alert.summary = d.summary;
    if (d.threat) alert.threat = d.threat;
    if (d.anomaly) alert.anomaly = d.anomaly;
    return { alert: this.keep(key, alert), isNew: true };
  }

  private findOpen(key: string, ruleId: string, entity: AlertEntity, target: string | undefined, seenMs: number): Alert | undefined {
    const cached = this.open.get(key);
    if (cached) {
      // Someone may have acknowledged it since (the live view, the API, `hv alerts ack` from
      // another process): an acked alert stays acked, and the next detection opens a new one.
      if (cached.status === "open" && seenMs - Date.parse(cached.last_seen) <= this.windowMs && !this.ackedInStore(cached)) return cached;
      this.open.delete(key);
      return undefined;
    }
    // After a restart the cache is empty; the store remembers what was open.
    const db = this.options.db;
    return db ? findOpenAlert(db, ruleId, entity.kind, entity.id, seenMs - this.windowMs, target) : undefined;
  }

  private ackedInStore(alert: Alert): boolean {
    const db = this.options.db;
    return db !== undefined && alert.id !== undefined && alertStatus(db, alert.id) !== "open";
  }

  private keep(key: string, alert: Alert): Alert {
    const stored = this.options.db ? { ...alert, id: saveAlert(this.options.db, alert) } : alert;
    this.open.delete(key);
    this.open.set(key, stored);
    // Bound the cache: the oldest entries are the least likely to be hit again.
    if (this.open.size > 10_000) this.open.delete(this.open.keys().next().value as string);
    return stored;
  }
}

/** The most specific thing the events are about: VM, then user, then process, then address, then host. */
export function entityOf(events: HvEvent[]): AlertEntity {
  const e = events[events.length - 1];
  if (!e) return { kind: "host", id: "unknown" };
  if (e.vm?.name) return { kind: "vm", id: e.vm.name };
  const user = e.user?.audit?.name ?? e.user?.name ?? e.user?.audit?.id ?? e.user?.id;
  if (user !== undefined) return { kind: "user", id: user };
  if (e.process?.executable) return { kind: "process", id: e.process.executable };
  const ip = e.source?.ip ?? e.destination?.ip;
  if (ip) return { kind: "ip", id: ip };
  return { kind: "host", id: e.host?.name ?? "localhost" };
}

/** Sigma tags → MITRE ATT&CK: `attack.t1059.004` is a technique, `attack.execution` a tactic. */
export function mitreOf(tags: string[]): Alert["mitre"] {
  const tactics: string[] = [];
  const techniques: string[] = [];
  for (const tag of tags) {
    const t = tag.toLowerCase();
    if (!t.startsWith("attack.")) continue;
    const name = t.slice(7);
    if (/^t\d{4}(\.\d{3})?$/.test(name)) techniques.push(name.toUpperCase());
    else if (!/^[gs]\d{4}$/.test(name)) tactics.push(name);
  }
  return { tactics, techniques };
}

function contextOf(e: HvEvent | undefined): Partial<Alert> {
  if (!e) return {};
  const ctx: Partial<Alert> = {};
  if (e.vm) ctx.vm = e.vm;
  if (e.host?.name) ctx.host = { name: e.host.name };
  const userName = e.user?.name ?? e.user?.audit?.name;
  if (e.user?.id !== undefined || userName !== undefined) ctx.user = { ...(e.user?.id !== undefined ? { id: e.user.id } : {}), ...(userName ? { name: userName } : {}) };
  if (e.process) {
    const { pid, executable, command_line } = e.process;
    ctx.process = { ...(pid !== undefined ? { pid } : {}), ...(executable ? { executable } : {}), ...(command_line ? { command_line } : {}) };
  }
  if (e.source?.ip) ctx.source = { ip: e.source.ip, ...(e.source.port !== undefined ? { port: e.source.port } : {}) };
  if (e.destination?.ip) ctx.destination = { ip: e.destination.ip, ...(e.destination.port !== undefined ? { port: e.destination.port } : {}) };
  return ctx;
}

function maxIso(a: string, b: string): string {
  return Date.parse(a) >= Date.parse(b) ? a : b;
}
