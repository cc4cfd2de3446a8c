// What every parser builds: accepted indicators (deduplicated, canonical), rejects with line and
// reason, and counts of what was skipped on purpose (comments, metadata, non-IDS attributes).

import type { Indicator } from "../../events/indicator.js";
import type { Canon } from "../canonical.js";

export type FeedFormat = "plain" | "spamhaus-drop" | "spamhaus-json" | "feodo-csv" | "netset" | "domains" | "misp" | "stix";

export const FEED_FORMATS: readonly FeedFormat[] = ["plain", "spamhaus-drop", "spamhaus-json", "feodo-csv", "netset", "domains", "misp", "stix"];

export interface Rejected {
  line?: number;
  value: string;
  reason: string;
}

export interface ParsedFeed {
  format: FeedFormat;
  indicators: Indicator[];
  /** The first MAX_REJECT_DETAILS rejects in full; rejectedCount counts them all. */
  rejected: Rejected[];
  rejectedCount: number;
  rejectedByReason: Record<string, number>;
  /** Comments, blank lines, metadata records, entries skipped on purpose (not IDS, revoked…). */
  skipped: number;
  skippedByReason: Record<string, number>;
  /** Entries listed more than once (kept once). */
  duplicates: number;
  /** Set when the document itself says it is incomplete (a declared count that does not match, JSON cut short). */
  truncated?: string;
}

export const MAX_REJECT_DETAILS = 1000;
const MAX_VALUE_CHARS = 200;

export class FeedBuilder {
  private readonly byValue = new Map<string, Indicator>();
  private readonly result: ParsedFeed;

  constructor(format: FeedFormat, readonly source: string) {
    this.result = { format, indicators: [], rejected: [], rejectedCount: 0, rejectedByReason: {}, skipped: 0, skippedByReason: {}, duplicates: 0 };
  }

  /** Adds a canonicalized value, or records why it was rejected. */
  add(canon: Canon, raw: string, line?: number, meta?: Record<string, string>): void {
    if (!canon.ok) {
      this.reject(raw, canon.reason, line);
      return;
    }
    const ind = canon.indicator;
    const merged = meta || ind.meta ? { ...ind.meta, ...meta } : undefined;
    const existing = this.byValue.get(ind.value);
    if (existing) {
      this.result.duplicates++;
      return;
    }
    const stored: Indicator = merged ? { value: ind.value, kind: ind.kind, meta: merged } : { value: ind.value, kind: ind.kind };
    this.byValue.set(ind.value, stored);
    this.result.indicators.push(stored);
  }

  reject(raw: string, reason: string, line?: number): void {
    this.result.rejectedCount++;
    this.result.rejectedByReason[reason] = (this.result.rejectedByReason[reason] ?? 0) + 1;
    if (this.result.rejected.length < MAX_REJECT_DETAILS) {
      const value = raw.length > MAX_VALUE_CHARS ? `${raw.slice(0, MAX_VALUE_CHARS)}… (${raw.length} chars)` : raw;
      this.result.rejected.push(line === undefined ? { value, reason } : { line, value, reason });
    }
  }

  skip(reason = "comment or blank"): void {
    this.result.skipped++;
    this.result.skippedByReason[reason] = (this.result.skippedByReason[reason] ?? 0) + 1;
  }

  truncated(reason: string): void {
    this.result.truncated ??= reason;
  }

  get count(): number {
    return this.result.indicators.length;
  }

  done(): ParsedFeed {
    return this.result;
  }
}

/** A whole-document JSON feed (MISP, STIX); one that does not parse is a truncated copy, so undefined. */
export function parseJsonDocument(b: FeedBuilder, text: string): { doc: unknown } | undefined {
  try {
    return { doc: JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) };
  } catch (err) {
    b.truncated(`JSON does not parse: ${(err as Error).message}`);
    return undefined;
  }
}

/** Lines of a text feed: BOM removed, CRLF/CR tolerated, numbered from 1. */
export function textLines(text: string): string[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return body.split(/\r\n|\r|\n/);
}

/** Lines this long are not feed entries; they are reported, not parsed (and not copied whole). */
export const MAX_LINE_CHARS = 4096;

/** Removes a trailing comment ("1.2.3.4 # botnet", "1.2.3.0/24 ; SBL1"); returns [entry, comment]. */
export function splitComment(line: string): [string, string | undefined] {
  const m = /\s*(#|;|\/\/)/.exec(line);
  if (!m) return [line.trim(), undefined];
  return [line.slice(0, m.index).trim(), line.slice(m.index + m[0].length).trim()];
}

export function isCommentLine(trimmed: string): boolean {
  return trimmed.startsWith("#") || trimmed.startsWith(";") || trimmed.startsWith("//");
}
