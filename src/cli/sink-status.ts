// How `hv monitor` shows its alert sinks: a part of the status line while any sink has trouble, a
// note when a sink starts failing or delivers again, and one summary line per sink at the end. A
// failing sink is never silent.

import type { AlertSink, SinkStats } from "../outputs/sink.js";

export interface SinkStatus extends SinkStats {
  name: string;
}

export function sinkStatuses(sinks: readonly AlertSink[]): SinkStatus[] {
  return sinks.map((s) => {
    const st = s.stats();
    return { name: s.name, sent: st.sent, failed: st.failed, dropped: st.dropped, queued: st.queued, errors: st.errors, ...(st.lastError ? { lastError: st.lastError } : {}), ...(st.dropReason ? { dropReason: st.dropReason } : {}) };
  });
}

/** Alerts a sink did not deliver (refused, dropped, or waiting on disk). */
export function undelivered(s: SinkStats): number {
  return s.failed + s.dropped + s.queued;
}

/** "sinks: webhook:127.0.0.1:9 12 queued, 3 dropped" for the sinks in trouble; "" when all deliver. */
export function sinkStatusPart(rows: readonly SinkStatus[]): string {
  const bad = rows.filter((r) => undelivered(r) > 0);
  if (bad.length === 0) return "";
  return `sinks: ${bad.map((r) => `${r.name} ${countsText(r)}`).join("; ")}`;
}

/** One line per sink for the summary. */
export function sinkSummaryLines(rows: readonly SinkStatus[]): string[] {
  return rows.map((r) => {
    const trouble = undelivered(r) > 0 ? ` — ${r.queued > 0 ? "the queued ones are retried at the next start; " : ""}${r.dropped > 0 ? `dropped: ${r.dropReason ?? "no room"}; ` : ""}last error: ${r.lastError ?? "none"}` : "";
    return `sink ${r.name}: ${r.sent} sent, ${r.failed} failed, ${r.dropped} dropped, ${r.queued} queued on disk${trouble}`;
  });
}

function countsText(r: SinkStats): string {
  const parts = [r.queued > 0 ? `${r.queued} queued` : "", r.failed > 0 ? `${r.failed} failed` : "", r.dropped > 0 ? `${r.dropped} dropped` : ""].filter(Boolean);
  return `${parts.join(", ")}${r.lastError ? ` (${r.lastError})` : ""}`;
}

/**
 * Says when a sink starts failing (its failed attempts grow without a delivery) and when it
 * delivers again; call with the latest statuses on every status tick.
 */
export function sinkHealthWatcher(report: (text: string) => void): (rows: readonly SinkStatus[]) => void {
  const last = new Map<string, { errors: number; sent: number; failing: boolean; dropped: number }>();
  return (rows) => {
    for (const r of rows) {
      const before = last.get(r.name) ?? { errors: 0, sent: 0, failing: false, dropped: 0 };
      const newErrors = r.errors > before.errors;
      const newSent = r.sent > before.sent;
      let failing = before.failing;
      if (newErrors && !newSent && !failing) {
        failing = true;
        report(`sink ${r.name} is failing: ${r.lastError ?? "delivery failed"}${r.queued > 0 ? `; ${r.queued} alerts queued on disk, retried` : ""}`);
      } else if (failing && newSent && r.queued === 0) {
        failing = false;
        report(`sink ${r.name} delivers again`);
      }
      if (r.dropped > before.dropped) report(`sink ${r.name}: ${r.dropped - before.dropped} alerts dropped (${r.dropReason ?? "no room"})`);
      last.set(r.name, { errors: r.errors, sent: r.sent, failing, dropped: r.dropped });
    }
  };
}
