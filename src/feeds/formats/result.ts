// What every parser builds: accepted indicators (deduplicated, canonical), rejects with line and
// reason, and counts of what was skipped on purpose (comments, metadata, non-IDS attributes).

import type { FeedFormat } from "../../events/feed.js";
import type { Indicator } from "../../events/indicator.js";
import type { Canon } from "../canonical.js";

export interface Rejected {
  line?: number;
  value: string;
  reason: string;
}

export interface ParsedFeed {
  format: FeedFormat;
  /** The accepted indicators, when the builder kept them (no sink: see FeedBuilder). */
  indicators: Indicator[];
  /** Distinct accepted indicators (kept, or handed to the sink). */
  entries: number;
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

/**
 * Where a builder hands accepted indicators when they are not to be kept in memory (a large feed
 * streamed into the store): "duplicate" when the value was given before.
 */
export type IndicatorSink = (indicator: Indicator) => "added" | "duplicate";

export class FeedBuilder {
  private readonly byValue = new Map<string, Indicator>();
  private readonly result: ParsedFeed;

  /** Without a sink the indicators are kept (and deduplicated) in `indicators`. */
  constructor(
    format: FeedFormat,
    readonly source: string,
    private readonly sink?: IndicatorSink,
  ) {
    this.result = { format, indicators: [], entries: 0, rejected: [], rejectedCount: 0, rejectedByReason: {}, skipped: 0, skippedByReason: {}, duplicates: 0 };
  }

  /** Adds a canonicalized value, or records why it was rejected. */
  add(canon: Canon, raw: string, line?: number, meta?: Record<string, string>): void {
    if (!canon.ok) {
      this.reject(raw, canon.reason, line);
      return;
    }
    const ind = canon.indicator;
    const merged = meta || ind.meta ? { ...ind.meta, ...meta } : undefined;
    const stored: Indicator = merged ? { value: ind.value, kind: ind.kind, meta: merged } : { value: ind.value, kind: ind.kind };
    if (this.sink) {
      if (this.sink(stored) === "duplicate") this.result.duplicates++;
      else this.result.entries++;
      return;
    }
    if (this.byValue.has(ind.value)) {
      this.result.duplicates++;
      return;
    }
    this.byValue.set(ind.value, stored);
    this.result.indicators.push(stored);
    this.result.entries++;
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
    return this.result.entries;
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

/** A parser of a line-oriented format: given each line in turn (from a string or a stream), then end(). */
export interface LineParser {
  line(raw: string, lineNo: number): void;
  end(): void;
}

/** A whole text through a line parser. */
export function parseLines(text: string, parser: LineParser): void {
  const lines = textLines(text);
  // A file ending in a newline yields one empty last element; that is not a blank line of the feed.
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  lines.forEach((raw, i) => parser.line(raw, i + 1));
  parser.end();
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
