// Does a playbook's `match` hold for an alert? Every criterion given must hold (AND); within one
// criterion any listed value will do (OR). The misses are returned so `hv playbooks test` can say
// why a playbook did not match.

import { SEVERITIES, type Alert } from "../events/alert.js";
import { globTest } from "../events/glob.js";
import type { PlaybookMatch } from "./schema.js";

export interface MatchResult {
  matched: boolean;
  /** One line per criterion that did not hold. */
  misses: string[];
}

/** `*` any run of characters, `?` one character; everything else literal (src/events/glob.ts). */
function anyGlob(globs: string[], value: string | undefined, cased = true): boolean {
  return value !== undefined && globs.some((g) => globTest(g, cased)(value));
}

/** The alert's techniques: from alert.mitre and from attack.tNNNN tags, upper case. */
export function techniquesOf(alert: Alert): string[] {
  const fromTags = (alert.rule.tags ?? []).map((t) => t.toLowerCase()).filter((t) => /^attack\.t\d{4}(\.\d{3})?$/.test(t)).map((t) => t.slice(7).toUpperCase());
  return [...new Set([...(alert.mitre?.techniques ?? []).map((t) => t.toUpperCase()), ...fromTags])];
}

/** The VM an alert concerns: its vm context, else a vm entity. */
export function vmOf(alert: Alert): string | undefined {
  return alert.vm?.name ?? (alert.entity.kind === "vm" ? alert.entity.id : undefined);
}

export function matchAlert(m: PlaybookMatch, alert: Alert): MatchResult {
  const misses: string[] = [];
  if (m.rules && !anyGlob(m.rules, alert.rule.id)) misses.push(`rule ${alert.rule.id} is not one of ${m.rules.join(", ")}`);
  if (m.tags) {
    const tags = alert.rule.tags ?? [];
    if (!tags.some((t) => anyGlob(m.tags!, t, false))) misses.push(`no tag matches ${m.tags.join(", ")}`);
  }
  if (m.techniques) {
    const have = techniquesOf(alert);
    // T1003 covers T1003.007: a playbook about a technique is about its sub-techniques too.
    const hit = m.techniques.some((want) => have.some((t) => t === want || t.startsWith(`${want}.`)));
    if (!hit) misses.push(`techniques ${have.join(", ") || "(none)"} do not include ${m.techniques.join(", ")}`);
  }
  if (m.minSeverity && SEVERITIES.indexOf(alert.severity) < SEVERITIES.indexOf(m.minSeverity)) misses.push(`severity ${alert.severity} is below ${m.minSeverity}`);
  if (m.minAnomalyScore) {
    const a = alert.anomaly;
    if (!a) misses.push("not an anomaly alert");
    else if ("ratio" in m.minAnomalyScore) {
      const ratio = a.threshold > 0 ? a.score / a.threshold : Number.POSITIVE_INFINITY;
      if (ratio < m.minAnomalyScore.ratio) misses.push(`anomaly score ${a.score} is ${ratio.toFixed(2)}× the threshold, below ${m.minAnomalyScore.ratio}×`);
    } else if (a.score < m.minAnomalyScore.absolute) misses.push(`anomaly score ${a.score} is below ${m.minAnomalyScore.absolute}`);
  }
  if (m.feeds) {
    const feed = alert.threat?.feed;
    if (feed === undefined) misses.push("not a threat-feed hit");
    else if (m.feeds !== "any" && !m.feeds.includes(feed)) misses.push(`feed ${feed} is not one of ${m.feeds.join(", ")}`);
  }
  if (m.entity && !m.entity.includes(alert.entity.kind)) misses.push(`entity ${alert.entity.kind} is not one of ${m.entity.join(", ")}`);
  if (m.vms && !anyGlob(m.vms, vmOf(alert))) misses.push(`VM ${vmOf(alert) ?? "(none)"} does not match ${m.vms.join(", ")}`);
  return { matched: misses.length === 0, misses };
}
