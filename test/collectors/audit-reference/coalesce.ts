// Grouping records into events (go-libaudit's aucoalesce/reassembler stage). Records of one event
// share (node, timestamp, serial). An event is complete when:
//  - its EOE record arrives, or its PROCTITLE (the kernel's last record before EOE) has arrived
//    and the next record belongs to another event — auditd 3 writes no EOE to its log file;
//  - it is a single-record type (user-space and daemon messages, 1007–1299 and 2100–2999) and the
//    next record belongs to another event;
//  - the stream's clock has moved on by `timeoutMs` (lost EOE, kernels without EOE) — by record
//    time, so a replayed file groups the same way as a live stream, and by wall clock in live mode;
//  - the in-flight window is full (the oldest group is pushed out, and counted).
// ausearch uses nearly the same rules (2 s timeout), so counts can be compared; where they differ
// on purpose, bench/conformance-audit.ts says why.
//
// Lost serials are reported, never hidden: gaps in each node's serial sequence are tracked as
// ranges; a late record that fills a gap removes it again.

import type { ParsedRecord } from "./parse.js";

export interface RecordGroup {
  node?: string;
  time: string;
  timeMs: number;
  serial: number;
  records: ParsedRecord[];
  /** A syscall event closed by timeout or window overflow rather than by EOE or PROCTITLE. */
  incomplete: boolean;
  /** Pushed out of a full in-flight window: records of it may still come, as late ones. */
  evicted: boolean;
  /** A record that arrived after its event had been emitted; it forms an event of its own. */
  late: boolean;
  /** Smallest source position among the group's records (for checkpoints). */
  firstPos?: number;
}

export interface CoalesceOptions {
  /** How far the stream must move past an event before it is closed without EOE (default 2000 ms, as ausearch). */
  timeoutMs?: number;
  /** Most events held open at once (default 1024). */
  maxInFlight?: number;
}

export interface CoalesceStats {
  records: number;
  events: number;
  incomplete: number;
  late: number;
  evicted: number;
  lostSerials: number;
}

interface OpenGroup {
  group: RecordGroup;
  openedAtWallMs: number;
  /**
   * Waiting one record to see whether its serial goes on: a single-record type (user-space
   * messages; newer kernels append the sender's SYSCALL/EOE under the same serial) or an event
   * that has had its PROCTITLE (the kernel's last record before EOE, and auditd 3 writes no EOE
   * to its log file).
   */
  tentative: boolean;
}

const EOE = "EOE";
const SERIAL_SPACE = 2 ** 32;
/** A serial this far behind the highest seen is a restart (reboot) rather than a late record. */
const RESTART_DISTANCE = 1_000_000;
/** Gap ranges remembered per node so a late record can still fill one. */
const MAX_GAP_RANGES = 4096;
/** Recently completed events remembered so a trailing EOE is eaten and late records are recognized. */
const RECENT_DONE = 4096;

export function isSingleRecordType(rec: ParsedRecord): boolean {
  const n = rec.typeNum;
  if (n === undefined) return false;
  return (n > 1006 && n < 1300) || (n >= 2100 && n < 3000);
}

export class Coalescer {
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly open = new Map<string, OpenGroup>();
  private readonly recentlyDone = new Set<string>();
  private readonly doneRing: Array<string | undefined> = new Array<string | undefined>(RECENT_DONE);
  private doneNext = 0;
  private readonly serials = new Map<string, SerialTracker>();
  private latestTimeMs = 0;
  private tentativeKey: string | undefined;
  readonly stats: CoalesceStats = { records: 0, events: 0, incomplete: 0, late: 0, evicted: 0, lostSerials: 0 };

  constructor(options: CoalesceOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.maxInFlight = options.maxInFlight ?? 1024;
  }

  /** Adds one record; returns the events it completed, oldest first. `pos` is the record's source position. */
  push(rec: ParsedRecord, pos?: number, wallMs = 0): RecordGroup[] {
    this.stats.records++;
    const out: RecordGroup[] = [];
    const key = groupKey(rec);
    this.closeTentative(key, out);
    if (rec.timeMs > this.latestTimeMs) {
      this.latestTimeMs = rec.timeMs;
      this.closeOlderThan(this.latestTimeMs - this.timeoutMs, out);
    }
    this.trackSerial(rec);
    let open = this.open.get(key);
    if (rec.type === EOE) {
      // An EOE with nothing open closes nothing: its event was already closed by timeout.
      if (open) this.close(key, open, false, out);
      return out;
    }
    if (open && rec.type === "SYSCALL" && open.group.records.some((r) => r.type === "SYSCALL")) {
      // A second SYSCALL under one serial is a repeated event (duplicated log lines), not more of this one.
      this.close(key, open, true, out);
      open = undefined;
    }
    if (open) {
      const g = open.group;
      g.records.push(rec);
      if (pos !== undefined && (g.firstPos === undefined || pos < g.firstPos)) g.firstPos = pos;
      open.tentative = rec.type === "PROCTITLE";
    } else {
      const g: RecordGroup = {
        time: rec.time, timeMs: rec.timeMs, serial: rec.serial, records: [rec],
        incomplete: false, evicted: false, late: this.recentlyDone.has(key),
      };
      if (rec.node !== undefined) g.node = rec.node;
      if (pos !== undefined) g.firstPos = pos;
      open = { group: g, openedAtWallMs: wallMs, tentative: rec.type === "PROCTITLE" || isSingleRecordType(rec) };
      this.open.set(key, open);
      if (this.open.size > this.maxInFlight) this.evictOldest(out);
    }
    if (open.tentative) this.tentativeKey = key;
    return out;
  }

  private evictOldest(out: RecordGroup[]): void {
    const [key, oldest] = this.open.entries().next().value as [string, OpenGroup];
    this.stats.evicted++;
    oldest.group.evicted = true;
    this.close(key, oldest, true, out);
  }

  /**
   * A tentative event (see OpenGroup) is closed by the first record of another event and
   * continued by one of its own.
   */
  private closeTentative(nextKey: string | undefined, out: RecordGroup[]): void {
    const key = this.tentativeKey;
    if (key === undefined || key === nextKey) return;
    this.tentativeKey = undefined;
    const open = this.open.get(key);
    if (open?.tentative) this.close(key, open, false, out);
  }

  /** Live mode: closes events that have waited longer than the timeout by wall clock. */
  expire(wallMs: number): RecordGroup[] {
    const out: RecordGroup[] = [];
    this.closeTentative(undefined, out);
    for (const [key, open] of this.open) {
      if (wallMs - open.openedAtWallMs >= this.timeoutMs) this.close(key, open, true, out);
    }
    return out;
  }

  /** End of input: everything still open is emitted as it is. */
  flush(): RecordGroup[] {
    const out: RecordGroup[] = [];
    for (const [key, open] of this.open) this.close(key, open, !open.tentative, out);
    return out;
  }

  /** Smallest source position still held open, or undefined when nothing is. Resuming there loses nothing. */
  oldestOpenPosition(): number | undefined {
    let min: number | undefined;
    for (const { group: g } of this.open.values()) if (g.firstPos !== undefined && (min === undefined || g.firstPos < min)) min = g.firstPos;
    return min;
  }

  get inFlight(): number {
    return this.open.size;
  }

  /** Ranges of serials never seen, per node ("" for records without node=), for the summary. */
  lostRanges(limit = 10): Array<{ node: string; from: number; to: number }> {
    const out: Array<{ node: string; from: number; to: number }> = [];
    for (const [node, t] of this.serials) {
      for (const [from, to] of t.gaps) {
        if (out.length >= limit) return out;
        out.push({ node, from, to });
      }
    }
    return out;
  }

  /**
   * Events are opened in (nearly) time order, so the scan stops at the first one still young
   * enough; a rare older one behind it waits for the next pass.
   */
  private closeOlderThan(limitMs: number, out: RecordGroup[]): void {
    for (const [key, open] of this.open) {
      if (open.group.timeMs > limitMs) return;
      this.close(key, open, true, out);
    }
  }

  private close(key: string, open: OpenGroup, byTimeout: boolean, out: RecordGroup[]): void {
    this.open.delete(key);
    const g = open.group;
    // A syscall event closed by the clock never got its EOE (or PROCTITLE); a lone kernel record
    // without syscall context (CONFIG_CHANGE from a module, ANOM_*) never has one.
    g.incomplete = byTimeout && g.records.some((r) => r.type === "SYSCALL");
    if (g.incomplete) this.stats.incomplete++;
    if (g.late) this.stats.late++;
    this.stats.events++;
    this.rememberDone(key);
    out.push(g);
  }

  private rememberDone(key: string): void {
    const evicted = this.doneRing[this.doneNext];
    if (evicted !== undefined) this.recentlyDone.delete(evicted);
    this.doneRing[this.doneNext] = key;
    this.doneNext = (this.doneNext + 1) % RECENT_DONE;
    this.recentlyDone.add(key);
  }

  private trackSerial(rec: ParsedRecord): void {
    const node = rec.node ?? "";
    let t = this.serials.get(node);
    if (!t) {
      t = { highest: rec.serial, gaps: [] };
      this.serials.set(node, t);
      return;
    }
    const s = rec.serial;
    if (s === t.highest) return;
    const ahead = (s - t.highest + SERIAL_SPACE) % SERIAL_SPACE;
    if (ahead > 0 && ahead < SERIAL_SPACE / 2) {
      if (ahead > 1) {
        const from = (t.highest + 1) % SERIAL_SPACE;
        const to = (s - 1 + SERIAL_SPACE) % SERIAL_SPACE;
        t.gaps.push([from, to]);
        this.stats.lostSerials += ahead - 1;
        if (t.gaps.length > MAX_GAP_RANGES) t.gaps.shift();
      }
      t.highest = s;
      return;
    }
    const behind = SERIAL_SPACE - ahead;
    if (behind > RESTART_DISTANCE) {
      // The kernel's counter starts over at boot: a new sequence, not a late record.
      t.highest = s;
      return;
    }
    this.fillGap(t, s);
  }

  private fillGap(t: SerialTracker, s: number): void {
    for (let i = t.gaps.length - 1; i >= 0; i--) {
      const gap = t.gaps[i] as [number, number];
      const [from, to] = gap;
      const inside = from <= to ? s >= from && s <= to : s >= from || s <= to;
      if (!inside) continue;
      this.stats.lostSerials--;
      const replacement: Array<[number, number]> = [];
      if (s !== from) replacement.push([from, (s - 1 + SERIAL_SPACE) % SERIAL_SPACE]);
      if (s !== to) replacement.push([(s + 1) % SERIAL_SPACE, to]);
      t.gaps.splice(i, 1, ...replacement);
      return;
    }
  }
}

interface SerialTracker {
  highest: number;
  gaps: Array<[number, number]>;
}

function groupKey(rec: ParsedRecord): string {
  return `${rec.node ?? ""}\u0000${rec.time}\u0000${rec.serial}`;
}
