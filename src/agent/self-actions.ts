// Marks what hv caused itself, so the detection stage never alerts on hv's own actions: a
// snapshot or dump pauses and resumes a guest, and the virsh/qemu-img processes hv starts would
// look like someone driving libvirt by hand. Marked events are stored as usual, with the tag
// "hv:self-action"; only detection skips them (isSelfCaused).
//
// Two kinds of marks:
//   - a VM's libvirt events (and libvirtd's VIRT_* audit records of it) inside the window of an
//     action hv recorded in the store (selfActionAt). Only those: an attack inside the guest's
//     qemu during a snapshot must still be seen, so other audit events of the VM are not marked.
//   - audit events of hv's own processes: this agent, the hv commands that recorded an action
//     (self_actions.pid), and everything they started, by pid lineage (the process table's
//     hv-self label, src/collectors/audit/proctable.ts).

import type Database from "better-sqlite3";
import { forkedChild, ProcessTable } from "../collectors/audit/proctable.js";
import type { HvEvent } from "../events/event.js";
import { selfActionAt } from "../store/self-actions.js";

export const SELF_ACTION_TAG = "hv:self-action";

/** The predicate the detection stage uses: skip events hv caused itself. */
export function isSelfCaused(event: HvEvent): boolean {
  return event.tags?.includes(SELF_ACTION_TAG) === true;
}

export interface SelfActionOptions {
  /**
   * The audit decoder's process table, which has learned from each event just before marking sees
   * it; without one, marking keeps a table of its own and feeds it itself.
   */
  processes?: ProcessTable;
  /** hv's own pids besides those in the store; default this process. */
  ownPids?: number[];
  /** Slack around an action's window (libvirt reports a little after the call returns). */
  slackMs?: number;
  /** How long the set of hv pids read from the store is reused. */
  pidsTtlMs?: number;
  now?: () => number;
}

export interface SelfActions {
  /** Tags the event if hv caused it; returns whether it did. */
  markSelfCaused(event: HvEvent): boolean;
}

/** hv commands that ended this long ago may still have children finishing (virsh, qemu-img). */
const RECENT_MS = 60_000;

export function createSelfActions(db: Database.Database, opts: SelfActionOptions = {}): SelfActions {
  const own = new Set(opts.ownPids ?? [process.pid]);
  const now = opts.now ?? Date.now;
  const table = opts.processes ?? new ProcessTable();
  const feedsTable = opts.processes === undefined;
  let storePids: Set<number> = new Set();
  let storePidsAt = -Infinity;
  const recentPids = db.prepare<[number], { pid: number }>(`SELECT DISTINCT pid FROM self_actions WHERE pid IS NOT NULL AND (ended IS NULL OR ended >= ?)`);

  const hvPids = (): Set<number> => {
    const t = now();
    if (t - storePidsAt > (opts.pidsTtlMs ?? 1000)) {
      storePids = new Set(recentPids.all(t - RECENT_MS).map((r) => r.pid));
      storePidsAt = t;
    }
    return storePids;
  };
  // A label counts only as someone's parent: a parent is alive while its child runs, so its pid
  // cannot have been reused; the event's own pid may have been.
  const isHv = (pid: number, asParent: boolean): boolean => own.has(pid) || hvPids().has(pid) || (asParent && table.labels(pid)?.hvSelf === true);
  const mark = (pid: number, hv: boolean, at: string): void => {
    if (hv || table.labels(pid)?.hvSelf) table.label(pid, { hvSelf: hv }, at);
  };

  const fromHv = (event: HvEvent): boolean => {
    const proc = event.process;
    if (event.event.module !== "audit" || proc?.pid === undefined) return false;
    if (feedsTable) table.enrich(event);
    let hv = false;
    let depth = 0;
    for (const p of table.lineage(proc.pid, proc.ppid)) {
      if (isHv(p, depth++ > 0)) {
        hv = true;
        break;
      }
    }
    const child = forkedChild(event);
    if (child !== undefined) mark(child, hv, event["@timestamp"]);
    if (!own.has(proc.pid)) mark(proc.pid, hv, event["@timestamp"]);
    return hv;
  };

  const duringAction = (event: HvEvent): boolean => {
    const name = event.vm?.name;
    if (!name) return false;
    const aboutVm = event.event.module === "libvirt" || (event.audit?.records.some((r) => r.type.startsWith("VIRT_")) ?? false);
    if (!aboutVm) return false;
    const at = Date.parse(event["@timestamp"]);
    return !Number.isNaN(at) && selfActionAt(db, name, at, opts.slackMs) !== undefined;
  };

  return {
    markSelfCaused(event) {
      // Both run: fromHv also learns hv's forks.
      const during = duringAction(event);
      if (!fromHv(event) && !during) return false;
      if (!isSelfCaused(event)) event.tags = [...(event.tags ?? []), SELF_ACTION_TAG];
      return true;
    },
  };
}
