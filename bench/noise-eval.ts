// How loud hv is on recorded benign days (scripts/record-benign-days.sh): the agent's detection
// stage (routing, learned exceptions, the store) over decoded events, counting the alerts it would
// send. A "day" is one log, or a directory of logs read as one stream. Used by bench/noise.ts
// (prints the figures) and test/detectors/noise-days.test.ts.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { decodeAuditLines } from "../src/collectors/audit/decoder.js";
import { setUpDetection } from "../src/agent/detectors.js";
import { applyProposals } from "../src/agent/learning.js";
import { SEVERITIES, type Alert, type Severity } from "../src/events/alert.js";
import type { HvEvent } from "../src/events/event.js";
import { listObservations, type Observation } from "../src/store/learning.js";
import { openStore } from "../src/store/open.js";

export function decodeDay(file: string): HvEvent[] {
  if (statSync(file).isDirectory()) {
    // A take of several logs (the benign look-alikes, one per family, recorded one after another):
    // one stream in time order.
    const logs = readdirSync(file).filter((f) => f.endsWith(".log")).sort();
    return logs.flatMap((f) => decodeDay(join(file, f))).sort((a, b) => a["@timestamp"].localeCompare(b["@timestamp"]));
  }
  const raw = readFileSync(file);
  const text = file.endsWith(".gz") ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
  return decodeAuditLines(text.split("\n"));
}

export interface NoiseResult {
  /** Alerts sent on (to sinks and playbooks), as they stand at the end (count = detections folded in). */
  alerts: Alert[];
  /** New signals (stored, not sent). */
  signals: number;
  detections: number;
  suppressedByLearning: number;
  hours: number;
}

export const atLeastMedium = (s: Severity): boolean => SEVERITIES.indexOf(s) >= SEVERITIES.indexOf("medium");

export function spanHours(events: HvEvent[]): number {
  const ts = events.map((e) => Date.parse(e["@timestamp"])).filter((t) => Number.isFinite(t));
  return ts.length < 2 ? 0 : (Math.max(...ts) - Math.min(...ts)) / 3_600_000;
}

/** The detection stage over `events` with a store in `stateDir` (learned exceptions come from there). */
export function judge(opts: { rulePaths: string[]; events: HvEvent[]; stateDir: string; signalsBelow?: Severity | "none" }): NoiseResult {
  const db = openStore(join(opts.stateDir, "hv.db"));
  const alerts = new Map<number, Alert>();
  let signals = 0;
  const d = setUpDetection({
    rulePaths: opts.rulePaths,
    db,
    ...(opts.signalsBelow ? { routing: { signalsBelow: opts.signalsBelow } } : {}),
    onAlert: (u) => void alerts.set(u.alert.id!, u.alert),
    onSignal: (u) => void (u.isNew && signals++),
  });
  d.stage.onEvents(opts.events);
  const last = opts.events[opts.events.length - 1];
  if (last) d.stage.tick(Date.parse(last["@timestamp"]) + 24 * 3_600_000);
  const suppressedByLearning = d.sigma.stats().exceptions.filter((e) => e.source === "learned").reduce((n, e) => n + e.suppressed, 0);
  db.close();
  return { alerts: [...alerts.values()], signals, detections: d.stage.stats().detections, suppressedByLearning, hours: spanHours(opts.events) };
}

/** Learns over `events` (hv monitor --learn) into the store in `stateDir` and applies every proposal. Returns what was observed. */
export function learn(opts: { rulePaths: string[]; events: HvEvent[]; stateDir: string }): Observation[] {
  const db = openStore(join(opts.stateDir, "hv.db"));
  const d = setUpDetection({ rulePaths: opts.rulePaths, db, learn: true, onAlert: () => {} });
  d.stage.onEvents(opts.events);
  const lastMs = Date.parse(opts.events[opts.events.length - 1]?.["@timestamp"] ?? new Date().toISOString());
  d.learner!.finish(lastMs);
  applyProposals(db, { by: "bench", nowMs: lastMs });
  const seen = listObservations(db);
  // The judged day starts with an empty alert table, as if the learning day's alerts were handled.
  db.exec("DELETE FROM alerts");
  db.close();
  return seen;
}
