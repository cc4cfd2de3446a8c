// What detectors conclude (DESIGN.md "Alert"). A Detection is one detector's finding about some
// events; alerting (src/detectors/alerts.ts) deduplicates Detections into Alerts: the same rule
// about the same entity within a window is one alert with a count.

import type { HvEvent } from "./event.js";
import { InputError } from "./input.js";

export type Severity = "informational" | "low" | "medium" | "high" | "critical";

export const SEVERITIES: readonly Severity[] = ["informational", "low", "medium", "high", "critical"];

/**
 * Every name a person may use for a severity: the full names, the short ones the live view and
 * `hv alerts list` print (INFO, LOW, MED, HIGH, CRIT), any case. One table, so a name seen in one
 * place is accepted by every flag and file that takes a severity.
 */
const SEVERITY_NAMES: Record<string, Severity> = {
  informational: "informational",
  info: "informational",
  low: "low",
  medium: "medium",
  med: "medium",
  high: "high",
  critical: "critical",
  crit: "critical",
};

/** The short name shown in lists and the live view (at most 4 letters). */
export const SEVERITY_SHORT: Record<Severity, string> = { informational: "INFO", low: "LOW", medium: "MED", high: "HIGH", critical: "CRIT" };

/** The accepted names, for help texts and error messages. */
export const SEVERITY_NAMES_HELP = "info|informational, low, med|medium, high, crit|critical";

/** A severity from any of its names (see SEVERITY_NAMES), or undefined. */
export function parseSeverity(text: string): Severity | undefined {
  return Object.hasOwn(SEVERITY_NAMES, text.trim().toLowerCase()) ? SEVERITY_NAMES[text.trim().toLowerCase()] : undefined;
}

/** parseSeverity for a flag: a name it does not know is an error saying which names it knows. */
export function severityArg(text: string, what = "--severity"): Severity {
  const s = parseSeverity(text);
  if (s === undefined) throw new InputError(`${what} must be one of ${SEVERITY_NAMES_HELP}, got ${JSON.stringify(text)}`);
  return s;
}

export type EntityKind = "vm" | "host" | "user" | "process" | "ip";

/** Who or what an alert is about: the most specific thing the events name, VM first. */
export interface AlertEntity {
  kind: EntityKind;
  id: string;
}

export interface RuleRef {
  /** The Sigma rule id (a UUID), or a detector-specific id such as `intel:feodo` or `anomaly:syscalls`. */
  id: string;
  title: string;
  /** Which detector produced it: "sigma", "intel", "anomaly", … */
  source: string;
  description?: string;
  level?: string;
  tags?: string[];
  /** File the rule was loaded from, when it came from one. */
  file?: string;
}

/** A threat-intelligence hit: which feed entry matched which value of the event. */
export interface ThreatMatch {
  feed: string;
  /** The entry as the feed lists it: an address, a CIDR, a domain (suffix), a URL, a hash. */
  indicator: string;
  kind: "ip" | "cidr" | "domain" | "url" | "hash";
  /** The event's value that matched (an address inside the CIDR, a subdomain, …). */
  matched: string;
  /** Which field of the event held it: destination.ip, source.ip, destination.domain, … */
  field: string;
  first_seen?: string;
  last_seen?: string;
  /** What the feed says of it: malware family, threat type, confidence, reference. */
  description?: string;
  /** The same as fields, as the feed gave them. */
  meta?: Record<string, string>;
}

/** An anomaly model's finding: the score against the calibrated threshold, and why. */
export interface AnomalyScore {
  model: string;
  score: number;
  threshold: number;
  /** Human-readable reasons: rare n-grams, the features furthest from normal and their baseline. */
  explanation: string[];
}

export interface Detection {
  rule: RuleRef;
  severity: Severity;
  /** The events behind the finding (one for a single-event rule, several for a correlation). */
  events: HvEvent[];
  /** Overrides the entity derived from the events. */
  entity?: AlertEntity;
  /**
   * What the finding is aimed at, when one entity can aim at several (the host or network a scan
   * probed, the service guessed at): a detection about a new target is a new alert, not a
   * higher count on the alert about the first one.
   */
  target?: string;
  /** One line a person can read, e.g. what matched. */
  summary?: string;
  threat?: ThreatMatch;
  anomaly?: AnomalyScore;
}

export interface Alert {
  /** Store id once stored. */
  id?: number;
  "@timestamp": string;
  first_seen: string;
  last_seen: string;
  count: number;
  rule: RuleRef;
  severity: Severity;
  mitre: { tactics: string[]; techniques: string[] };
  entity: AlertEntity;
  /** The detection's target (see Detection.target): part of what makes two detections one alert. */
  target?: string;
  vm?: { name?: string; uuid?: string };
  host?: { name?: string };
  user?: { id?: string; name?: string };
  process?: { pid?: number; executable?: string; command_line?: string };
  source?: { ip?: string; port?: number };
  destination?: { ip?: string; port?: number };
  /** Ids of the events behind the alert (the most recent ones when there are many). */
  event_ids: string[];
  summary?: string;
  threat?: ThreatMatch;
  anomaly?: AnomalyScore;
  status: "open" | "acked";
  /**
   * A signal, not an alert: stored and counted (hv alerts list --all, the API, metrics) but not
   * sent to sinks or playbooks — a third-party Sigma rule below the routing threshold
   * (src/agent/routing.ts, docs/noise.md).
   */
  signal?: boolean;
}

/** One interface for every detector (Sigma rules, threat intel, anomaly models). */
export interface Detector {
  readonly name: string;
  /** Looks at one event; returns what it concludes now. */
  onEvent(event: HvEvent): Detection[];
  /** Time passes without events (correlation windows close); `nowMs` is stream time. */
  tick?(nowMs: number): Detection[];
}
