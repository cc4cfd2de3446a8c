// Lines in, events out: parse → coalesce → normalize → process table → the caller's enrichment,
// with every line accounted for (records, blank lines, malformed lines with their line numbers and
// reasons).

import type { HvEvent } from "../../events/event.js";
import { Coalescer, type CoalesceOptions, type CoalesceStats, type RecordGroup } from "./coalesce.js";
import { normalizeGroup } from "./normalize.js";
import { parseRecord } from "./parse.js";
import { ProcessTable } from "./proctable.js";

export interface LineProblem {
  line: number;
  reason: string;
}

export interface DecoderStats extends CoalesceStats {
  lines: number;
  blank: number;
  malformed: number;
  /** Lines that parsed but had a broken field (invalid hex, unterminated quote, …). */
  warnings: number;
  problems: LineProblem[];
}

export interface DecodedBatch {
  events: HvEvent[];
  /** Source offset from which a restart loses nothing, once these events are stored. */
  safeOffset?: number;
}

const MAX_PROBLEMS_KEPT = 20;

export interface AuditDecoderOptions extends CoalesceOptions {
  processes?: ProcessTable;
  /**
   * Runs on each event right after the process table learned from it, so what it reads of the
   * table (VM attribution, self-action marking) is the table at that point of the stream.
   */
  enrich?: (event: HvEvent) => void;
}

export class AuditDecoder {
  private readonly coalescer: Coalescer;
  /** Shared with VM attribution and self-action marking, which label processes in it. */
  readonly processes: ProcessTable;
  private readonly enrichHook: ((event: HvEvent) => void) | undefined;
  private readonly counts = { lines: 0, blank: 0, malformed: 0, warnings: 0 };
  private readonly problems: LineProblem[] = [];

  constructor(options: AuditDecoderOptions = {}) {
    this.coalescer = new Coalescer(options);
    this.processes = options.processes ?? new ProcessTable();
    this.enrichHook = options.enrich;
  }

  /** `start`/`end`: byte offsets of the line in its file, when it has one; `cutBytes`: what its source cut off an overlong line. */
  pushLine(text: string, lineNo: number, start?: number, end?: number, wallMs = 0, cutBytes = 0): DecodedBatch {
    this.counts.lines++;
    if (text.trim().length === 0) {
      this.counts.blank++;
      return { events: [], safeOffset: this.safeOffset(end) };
    }
    const parsed = parseRecord(text, cutBytes);
    if (!parsed.ok) {
      this.counts.malformed++;
      this.note(lineNo, parsed.reason);
      return { events: [], safeOffset: this.safeOffset(end) };
    }
    if (parsed.record.warnings) {
      this.counts.warnings++;
      this.note(lineNo, parsed.record.warnings.join("; "));
    }
    const groups = this.coalescer.push(parsed.record, start, wallMs);
    return { events: this.finish(groups), safeOffset: this.safeOffset(end) };
  }

  /** Live sources: close events whose EOE never came within the timeout. */
  expire(wallMs: number): HvEvent[] {
    return this.finish(this.coalescer.expire(wallMs));
  }

  /** End of input. */
  flush(): HvEvent[] {
    return this.finish(this.coalescer.flush());
  }

  get stats(): DecoderStats {
    return { ...this.coalescer.stats, ...this.counts, problems: [...this.problems] };
  }

  lostRanges(limit?: number): ReturnType<Coalescer["lostRanges"]> {
    return this.coalescer.lostRanges(limit);
  }

  private finish(groups: RecordGroup[]): HvEvent[] {
    const events: HvEvent[] = [];
    for (const g of groups) {
      const event = normalizeGroup(g);
      this.processes.enrich(event);
      this.enrichHook?.(event);
      events.push(event);
    }
    return events;
  }

  /** Where a restart must resume so that nothing still open is lost, given the end of the last line read. */
  safeOffset(lineEnd: number): number;
  safeOffset(lineEnd: number | undefined): number | undefined;
  safeOffset(lineEnd: number | undefined): number | undefined {
    if (lineEnd === undefined) return undefined;
    const open = this.coalescer.oldestOpenPosition();
    return open === undefined ? lineEnd : Math.min(open, lineEnd);
  }

  private note(line: number, reason: string): void {
    if (this.problems.length < MAX_PROBLEMS_KEPT) this.problems.push({ line, reason });
  }
}

/** Decodes a whole recorded input (lines without their newlines), end of input included. */
export function decodeAuditLines(lines: Iterable<string>, decoder = new AuditDecoder()): HvEvent[] {
  const events: HvEvent[] = [];
  let n = 0;
  for (const line of lines) events.push(...decoder.pushLine(line, ++n).events);
  events.push(...decoder.flush());
  return events;
}
