import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

// What hv itself did to a VM (a snapshot pauses and resumes it, a dump stops it for a moment).
// The VM backend records each action here — the CLI and the agent are separate processes, so
// the store is where they meet — and the pipeline marks events inside such a window as hv's own.

export interface SelfAction {
  vmName: string;
  vmUuid?: string;
  action: string;
  startedMs: number;
  endedMs?: number;
  pid?: number;
}

/** Records the start of an action; returns its id for endSelfAction. */
export function beginSelfAction(db: Database.Database, a: Omit<SelfAction, "endedMs">): number {
  const r = prepared<[string, string | null, string, number, number | null]>(
    db,
    `INSERT INTO self_actions (vm_name, vm_uuid, action, started, pid) VALUES (?, ?, ?, ?, ?)`,
  ).run(a.vmName, a.vmUuid ?? null, a.action, a.startedMs, a.pid ?? process.pid);
  return Number(r.lastInsertRowid);
}

export function endSelfAction(db: Database.Database, id: number, endedMs = Date.now()): void {
  prepared<[number, number]>(db, `UPDATE self_actions SET ended = ? WHERE id = ?`).run(endedMs, id);
}

/**
 * The action hv was doing to this VM at `atMs` (with `slackMs` either side: libvirt reports a
 * lifecycle event a little after the call returns), or undefined. An action still running
 * (ended NULL) covers everything after its start.
 */
export function selfActionAt(db: Database.Database, vmName: string, atMs: number, slackMs = 2000): SelfAction | undefined {
  const row = prepared<[string, number, number], { vm_name: string; vm_uuid: string | null; action: string; started: number; ended: number | null; pid: number | null }>(
    db,
    `SELECT vm_name, vm_uuid, action, started, ended, pid FROM self_actions
     WHERE vm_name = ? AND started <= ? AND (ended IS NULL OR ended >= ?) ORDER BY started DESC LIMIT 1`,
  ).get(vmName, atMs + slackMs, atMs - slackMs);
  if (!row) return undefined;
  const a: SelfAction = { vmName: row.vm_name, action: row.action, startedMs: row.started };
  if (row.vm_uuid !== null) a.vmUuid = row.vm_uuid;
  if (row.ended !== null) a.endedMs = row.ended;
  if (row.pid !== null) a.pid = row.pid;
  return a;
}
