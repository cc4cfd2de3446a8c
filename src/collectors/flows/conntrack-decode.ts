// conntrack event lines → flow events, shared by the live collector (conntrack.ts) and replay of
// a recorded log. Pairs each DESTROY with its NEW by conntrack id (for the flow's start and
// duration), and counts what a reader must know was lost: ENOBUFS warnings, NEW entries whose
// DESTROY never came, DESTROY entries whose NEW was never seen.

import type { HvEvent } from "../../events/event.js";
import { flowEvent, type FlowRecord, type FlowSide } from "./flow-event.js";
import { ENOBUFS_WARNING, parseConntrackLine, type ConntrackLine, type ConntrackTuple } from "./conntrack-parse.js";

export interface ConntrackProblem {
  line: number;
  reason: string;
  text: string;
}

export interface ConntrackStats {
  lines: number;
  events: number;
  new: number;
  update: number;
  destroy: number;
  /** Blank lines and non-event lines (conntrack's notices and closing summary). */
  skipped: number;
  malformed: number;
  /** The first MAX_PROBLEMS problems, with reasons naming the field. */
  problems: ConntrackProblem[];
  /** conntrack reported ENOBUFS ("No buffer space available") this many times. */
  lostBuffer: number;
  /** NEW never followed by DESTROY within lostAfterMs (likely lost DESTROY), or pushed out by maxOpenFlows. */
  unmatchedNew: number;
  destroyWithoutNew: number;
  /** NEW entries still waiting for their DESTROY. */
  openFlows: number;
}

export interface ConntrackDecoder {
  /** One line of conntrack -E output; the flow event, or undefined (skipped or malformed: counted). */
  line(text: string, lineNo: number): HvEvent | undefined;
  /** One line conntrack wrote on stderr: counts ENOBUFS warnings; true when it was one. */
  stderr(text: string): boolean;
  /** Forget NEW flows older than lostAfterMs of stream time, counting them in unmatchedNew. */
  expire(nowMs: number): void;
  stats(): ConntrackStats;
}

export interface ConntrackDecoderOptions {
  host?: string;
  /**
   * How long a NEW may wait for its DESTROY before it counts as lost. TCP entries live up to
   * nf_conntrack_tcp_timeout_established (5 days by default) without a packet, so a short value
   * counts long quiet connections as lost. Default 6 h.
   */
  lostAfterMs?: number;
  /** Open NEW entries kept for pairing; past this the oldest is forgotten (counted in unmatchedNew). Default 500 000. */
  maxOpenFlows?: number;
}

export const MAX_PROBLEMS = 20;
const DEFAULT_LOST_AFTER_MS = 6 * 3600_000;
const DEFAULT_MAX_OPEN_FLOWS = 500_000;
const MAX_PROBLEM_TEXT = 300;

export function createConntrackDecoder(opts: ConntrackDecoderOptions = {}): ConntrackDecoder {
  const lostAfterMs = opts.lostAfterMs ?? DEFAULT_LOST_AFTER_MS;
  const maxOpenFlows = opts.maxOpenFlows ?? DEFAULT_MAX_OPEN_FLOWS;
  const counts = { lines: 0, events: 0, new: 0, update: 0, destroy: 0, skipped: 0, malformed: 0, lostBuffer: 0, unmatchedNew: 0, destroyWithoutNew: 0 };
  const problems: ConntrackProblem[] = [];
  // conntrack id → NEW time (ms). A Map keeps insertion order, which is stream order, so the
  // oldest entries are the first ones.
  const open = new Map<string, number>();

  function malformed(lineNo: number, reason: string, text: string): undefined {
    counts.malformed++;
    if (problems.length < MAX_PROBLEMS) problems.push({ line: lineNo, reason, text: text.length > MAX_PROBLEM_TEXT ? `${text.slice(0, MAX_PROBLEM_TEXT)}…` : text });
    return undefined;
  }

  function remember(id: string, timeMs: number): void {
    // A reused id (the kernel recycles them) replaces the old entry: its DESTROY was lost.
    if (open.delete(id)) counts.unmatchedNew++;
    open.set(id, timeMs);
    if (open.size > maxOpenFlows) {
      const oldest = open.keys().next().value as string;
      open.delete(oldest);
      counts.unmatchedNew++;
    }
  }

  return {
    line(text, lineNo) {
      counts.lines++;
      const parsed = parseConntrackLine(text);
      if (parsed.kind === "skip") {
        counts.skipped++;
        if (parsed.note === "enobufs") counts.lostBuffer++;
        return undefined;
      }
      if (parsed.kind === "malformed") return malformed(lineNo, parsed.reason, text);
      const ct = parsed.line;
      let startMs: number | undefined;
      if (ct.type === "NEW") {
        counts.new++;
        if (ct.id !== undefined) remember(ct.id, ct.timeMs);
        startMs = ct.timeMs;
      } else if (ct.type === "UPDATE") {
        counts.update++;
        if (ct.id !== undefined) startMs = open.get(ct.id);
      } else {
        counts.destroy++;
        const seen = ct.id !== undefined ? open.get(ct.id) : undefined;
        if (seen !== undefined) {
          open.delete(ct.id!);
          startMs = seen;
        } else {
          counts.destroyWithoutNew++;
          if (ct.deltaTime !== undefined) startMs = ct.timeMs - ct.deltaTime * 1000;
        }
      }
      counts.events++;
      return flowEvent(flowRecord(ct, startMs, opts.host));
    },

    stderr(text) {
      if (!text.includes(ENOBUFS_WARNING)) return false;
      counts.lostBuffer++;
      return true;
    },

    expire(nowMs) {
      const before = nowMs - lostAfterMs;
      for (const [id, timeMs] of open) {
        // Stream order is time order (to the clock's precision), so the first young one ends the sweep.
        if (timeMs >= before) break;
        open.delete(id);
        counts.unmatchedNew++;
      }
    },

    stats() {
      return { ...counts, problems: problems.map((p) => ({ ...p })), openFlows: open.size };
    },
  };
}

const TRANSPORT_NAMES: Record<string, string> = { icmpv6: "ipv6-icmp" };

function flowRecord(ct: ConntrackLine, startMs: number | undefined, host: string | undefined): FlowRecord {
  const phase = ct.type === "NEW" ? "new" : ct.type === "DESTROY" ? "end" : "update";
  const record: FlowRecord = {
    timestamp: isoTime(ct.timeMs),
    // conntrack prints "unknown" for protocols it has no tracker for; the number still names it.
    transport: ct.protoName === "unknown" ? String(ct.protoNum) : (TRANSPORT_NAMES[ct.protoName] ?? ct.protoName),
    protocol: ct.protoNum,
    source: side(ct.orig.src, ct.orig.sport, ct.orig),
    destination: side(ct.orig.dst, ct.orig.dport, ct.reply),
    flow: { collector: "conntrack", phase },
  };
  const flow = record.flow;
  if (ct.id !== undefined) flow.id = ct.id;
  if (ct.state !== undefined) flow.state = ct.state;
  if (ct.flags.length > 0) flow.flags = [...ct.flags];
  if (ct.zone !== undefined) flow.zone = ct.zone;
  if (ct.mark !== undefined) flow.mark = ct.mark;
  if (startMs !== undefined) flow.start = isoTime(startMs);
  if (phase === "end") {
    flow.end = record.timestamp;
    if (startMs !== undefined) flow.duration_ms = Math.round(ct.timeMs - startMs);
  }
  if (natChanged(ct.orig, ct.reply)) {
    flow.reply = { source: endpoint(ct.reply.src, ct.reply.sport), destination: endpoint(ct.reply.dst, ct.reply.dport) };
  }
  if (host !== undefined) record.host = host;
  return record;
}

/** ISO time to the millisecond (truncated, as conntrack's own clock would print it). */
function isoTime(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}

/** One side of the flow: its address and port from the original tuple, what it sent from its own tuple. */
function side(ip: string, port: number | undefined, sent: ConntrackTuple): FlowSide {
  const s: FlowSide = { ip };
  if (port !== undefined) s.port = port;
  if (sent.bytes !== undefined) s.bytes = sent.bytes;
  if (sent.packets !== undefined) s.packets = sent.packets;
  return s;
}

function endpoint(ip: string, port: number | undefined): { ip: string; port?: number } {
  return port === undefined ? { ip } : { ip, port };
}

/** Without NAT the reply tuple is the original one mirrored. */
function natChanged(orig: ConntrackTuple, reply: ConntrackTuple): boolean {
  return reply.src !== orig.dst || reply.dst !== orig.src || reply.sport !== orig.dport || reply.dport !== orig.sport;
}
