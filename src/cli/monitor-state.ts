// What `hv monitor` shows, as plain data: the live view (ink), the plain-line output and the
// final summary all read it. The pipeline feeds it; it knows nothing of terminals.

import type { Alert, Severity } from "../events/alert.js";
import { SEVERITIES } from "../events/alert.js";

export interface SourceStatus {
  name: string;
  events: number;
  eventsPerSec: number;
  drops: number;
  malformed: number;
  lostSerials: number;
}

/** An alert sink's counters (src/outputs/sink.ts SinkStats) with its name. */
export interface SinkRow {
  name: string;
  sent: number;
  failed: number;
  dropped: number;
  queued: number;
  lastError?: string;
}

export interface VmStatus {
  name: string;
  alerts: number;
  worst: Severity;
  lastSeen: string;
  /** libvirt's state (running, shut off, paused, …); undefined when only alerts named the VM. */
  state?: string;
  /** hv has it in quarantine now (an active enforcement in the store). */
  quarantined?: boolean;
}

/** What the agent knows of a VM right now, for setVms. */
export interface VmFacts {
  name: string;
  state?: string;
  quarantined?: boolean;
}

export interface MonitorSnapshot {
  startedAt: string;
  /** Newest first, at most MAX_ALERTS. An updated alert (count grew) moves to the top. */
  alerts: Alert[];
  bySeverity: Record<Severity, number>;
  byRule: Array<{ id: string; title: string; count: number }>;
  vms: VmStatus[];
  sources: SourceStatus[];
  sinks: SinkRow[];
  events: number;
  /** Recent problems worth a glance (newest last); a full-screen view cannot let them go to stderr. */
  notes: Array<{ at: string; text: string }>;
}

/** Tells who changed: the plain output prints each alert update as it happens. */
export type AlertListener = (alert: Alert, isNew: boolean) => void;

const MAX_ALERTS = 500;
const MAX_NOTES = 20;

export class MonitorState {
  private alerts: Alert[] = [];
  private readonly bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  private readonly byRule = new Map<string, { id: string; title: string; count: number }>();
  private readonly vms = new Map<string, VmStatus>();
  private sources: SourceStatus[] = [];
  private sinks: SinkRow[] = [];
  private events = 0;
  private notes: Array<{ at: string; text: string }> = [];
  private readonly listeners = new Set<() => void>();
  private readonly alertListeners = new Set<AlertListener>();
  readonly startedAt = new Date().toISOString();

  /** An alert was raised (`isNew`) or deduplicated into an existing one. */
  addAlert(alert: Alert, isNew: boolean): void {
    this.alerts = [alert, ...this.alerts.filter((a) => !sameAlert(a, alert))].slice(0, MAX_ALERTS);
    if (isNew) this.bySeverity[alert.severity]++;
    const rule = this.byRule.get(alert.rule.id) ?? { id: alert.rule.id, title: alert.rule.title, count: 0 };
    rule.count++;
    this.byRule.set(alert.rule.id, rule);
    const vm = alert.vm?.name;
    if (vm) {
      const v = this.vms.get(vm) ?? { name: vm, alerts: 0, worst: alert.severity, lastSeen: alert.last_seen };
      v.alerts++;
      if (SEVERITIES.indexOf(alert.severity) > SEVERITIES.indexOf(v.worst)) v.worst = alert.severity;
      v.lastSeen = alert.last_seen;
      this.vms.set(vm, v);
    }
    for (const l of this.alertListeners) l(alert, isNew);
    this.changed();
  }

  /** A problem to show (e.g. a collector error) while the live view owns the terminal. */
  note(text: string): void {
    this.notes = [...this.notes, { at: new Date().toISOString(), text }].slice(-MAX_NOTES);
    this.changed();
  }

  /** Known VMs without alerts still get a row. */
  addVm(name: string): void {
    this.setVms([...this.vmFacts(), { name }]);
  }

  /**
   * The VMs the host has now, with their state and quarantine (the agent calls it as the inventory
   * and the store change). A VM that is gone keeps its row while it has alerts.
   */
  setVms(facts: VmFacts[]): void {
    const now = new Map(facts.map((f) => [f.name, f]));
    let changed = false;
    for (const [name, v] of this.vms) {
      if (now.has(name)) continue;
      if (v.alerts === 0) this.vms.delete(name);
      else if (v.state !== undefined || v.quarantined) this.vms.set(name, { ...v, state: "gone", quarantined: false });
      else continue;
      changed = true;
    }
    for (const f of facts) {
      const v = this.vms.get(f.name) ?? { name: f.name, alerts: 0, worst: "informational" as Severity, lastSeen: "" };
      const next = { ...v, ...(f.state !== undefined ? { state: f.state } : {}), quarantined: f.quarantined === true };
      if (v.state !== next.state || v.quarantined !== next.quarantined || !this.vms.has(f.name)) changed = true;
      this.vms.set(f.name, next);
    }
    if (changed) this.changed();
  }

  /** An alert's status changed outside the detection stage (acknowledged from the view). */
  setAlertStatus(id: number, status: Alert["status"]): void {
    let found = false;
    this.alerts = this.alerts.map((a) => (a.id === id ? ((found = true), { ...a, status }) : a));
    if (found) this.changed();
  }

  private vmFacts(): VmFacts[] {
    return [...this.vms.values()].map((v) => ({ name: v.name, ...(v.state !== undefined ? { state: v.state } : {}), quarantined: v.quarantined === true }));
  }

  setSources(sources: SourceStatus[], events: number): void {
    this.sources = sources;
    this.events = events;
    this.changed();
  }

  setSinks(sinks: SinkRow[]): void {
    this.sinks = sinks;
    this.changed();
  }

  snapshot(): MonitorSnapshot {
    return {
      startedAt: this.startedAt,
      alerts: this.alerts,
      bySeverity: { ...this.bySeverity },
      byRule: [...this.byRule.values()].sort((a, b) => b.count - a.count),
      vms: [...this.vms.values()].sort((a, b) => a.name.localeCompare(b.name)),
      sources: this.sources,
      sinks: this.sinks,
      events: this.events,
      notes: this.notes,
    };
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called once per addAlert, with the alert as it now is. */
  onAlert(listener: AlertListener): () => void {
    this.alertListeners.add(listener);
    return () => this.alertListeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}

function sameAlert(a: Alert, b: Alert): boolean {
  if (a.id !== undefined && b.id !== undefined) return a.id === b.id;
  return a.rule.id === b.rule.id && a.entity.kind === b.entity.kind && a.entity.id === b.entity.id && a.first_seen === b.first_seen;
}

/** A stable name for one alert across its updates, so a selection can follow it as it moves. */
export function alertKey(a: Alert): string {
  return a.id !== undefined ? `#${a.id}` : `${a.rule.id}\u0000${a.entity.kind}\u0000${a.entity.id}\u0000${a.first_seen}`;
}
