// What the console's live pages are told: every new or changed alert and action. The store is
// polled once a second, and only while someone listens: the API may run inside the agent or as
// `hv api serve` beside it, and the store is what both share. One poll serves every listener.
// Only the newest rows are compared (a change to an older one is seen on the page's next load).

import type Database from "better-sqlite3";
import type { Alert } from "../events/alert.js";
import { getAlert } from "../store/alerts.js";
import { getAction, type ActionRecord } from "../store/actions.js";
import { prepared } from "../store/statements.js";

export type LiveChange = { kind: "alert"; data: Alert } | { kind: "action"; data: ActionRecord };

export interface LiveFeedOptions {
  /** Default 1000. */
  intervalMs?: number;
  /** How many of the newest rows of each table are compared (default 500). */
  window?: number;
}

type Listener = (changes: LiveChange[]) => void;

export class LiveFeed {
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private alerts = new Map<number, string>();
  private actions = new Map<number, string>();
  private readonly intervalMs: number;
  private readonly window: number;

  constructor(
    private readonly db: Database.Database,
    opts: LiveFeedOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.window = opts.window ?? 500;
  }

  /** Calls `fn` with each batch of changes made after this call; returns the unsubscribe. */
  subscribe(fn: Listener): () => void {
    if (this.listeners.size === 0) {
      // The first listener sets the baseline; later ones share it (they were told nothing older).
      this.alerts = this.alertSignatures();
      this.actions = this.actionSignatures();
      this.timer = setInterval(() => this.poll(), this.intervalMs);
      this.timer.unref();
    }
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0) this.stop();
    };
  }

  get listening(): number {
    return this.listeners.size;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  /** One comparison with the store (the timer calls it; tests may too). */
  poll(): void {
    let changes: LiveChange[];
    try {
      changes = this.changes();
    } catch {
      // A busy or closing store: the next poll compares again.
      return;
    }
    if (changes.length === 0) return;
    for (const fn of [...this.listeners]) fn(changes);
  }

  private changes(): LiveChange[] {
    const alerts = this.alertSignatures();
    const actions = this.actionSignatures();
    const out: LiveChange[] = [];
    for (const id of changedIds(this.alerts, alerts)) {
      const data = getAlert(this.db, id);
      if (data) out.push({ kind: "alert", data });
    }
    for (const id of changedIds(this.actions, actions)) {
      const data = getAction(this.db, id);
      if (data) out.push({ kind: "action", data });
    }
    this.alerts = alerts;
    this.actions = actions;
    return out;
  }

  private alertSignatures(): Map<number, string> {
    const rows = prepared<[number], { id: number; sig: string }>(this.db, `SELECT id, count || '|' || status || '|' || last_seen AS sig FROM alerts ORDER BY id DESC LIMIT ?`).all(this.window);
    return new Map(rows.map((r) => [r.id, r.sig]));
  }

  private actionSignatures(): Map<number, string> {
    const rows = prepared<[number], { id: number; sig: string }>(
      this.db,
      `SELECT id, status || '|' || coalesce(finished, '') || '|' || coalesce(undone, '') || '|' || coalesce(approved_by, '') AS sig FROM actions ORDER BY id DESC LIMIT ?`,
    ).all(this.window);
    return new Map(rows.map((r) => [r.id, r.sig]));
  }
}

/** Ids new in `now` or with another signature, oldest first. */
function changedIds(before: Map<number, string>, now: Map<number, string>): number[] {
  const oldest = before.size > 0 ? Math.min(...before.keys()) : 0;
  const ids: number[] = [];
  for (const [id, sig] of now) {
    const was = before.get(id);
    // A row older than the compared window is not new, it has just moved into view.
    if (was === undefined ? id > oldest || before.size === 0 : was !== sig) ids.push(id);
  }
  return ids.sort((a, b) => a - b);
}
