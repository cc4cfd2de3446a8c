// One NetFlow/IPFIX export datagram → flow events. Dispatches on the version (5, 9, 10 = IPFIX),
// walks the sets of v9/IPFIX, learns templates per exporter and observation domain, and decodes
// data records with them. A malformed packet is counted with a reason, never thrown; a record that
// does not fit is dropped whole. Data whose template is not known yet is counted, not buffered.

import type { HvEvent } from "../../../events/event.js";
import { flowEvent } from "../flow-event.js";
import { readDataSet, type Values } from "./data-sets.js";
import { E } from "./elements.js";
import { recordToFlow, type PacketInfo } from "./record.js";
import { allZero, readTemplateSet, type TemplateSetContext } from "./template-sets.js";
import { TemplateCache, type ScopeKey, type Template } from "./templates.js";
import { SequenceTracker } from "./sequence.js";
import { readV5Header, readV5Record } from "./v5.js";

export interface NetflowStats {
  packets: number;
  flows: number;
  templates: number;
  optionsTemplates: number;
  optionRecords: number;
  /** Data sets whose template is not known (yet). */
  noTemplate: number;
  malformed: number;
  /** The first 20. */
  problems: Array<{ exporter: string; reason: string }>;
  /** Packets per version: "5", "9", "10", "other". */
  versions: Record<string, number>;
  /** Template withdrawals (IPFIX), templates expired unrefreshed, evicted over maxTemplates, held now. */
  withdrawals: number;
  expiredTemplates: number;
  evictedTemplates: number;
  activeTemplates: number;
  /** Data records that name no source and destination address (e.g. NAT or firewall events): not flows. */
  nonFlowRecords: number;
  /** Lost exports seen as gaps in the exporters' sequence numbers: v5 flows + v9 packets + IPFIX data records. */
  sequenceLost: number;
  /** Sequence numbers that went backwards or jumped more than 2^31 (exporter restart, reordering). */
  sequenceResets: number;
}

export interface NetflowDecoder {
  packet(buf: Buffer, exporter: { address: string; port: number }, receivedAt?: Date): HvEvent[];
  stats(): NetflowStats;
}

export interface NetflowDecoderOptions {
  /** A template not refreshed for this long is forgotten (default 30 min). */
  templateTtlMs?: number;
  host?: string;
  /** Templates held at most, over all exporters (default 10000; the least recently refreshed go first). */
  maxTemplates?: number;
  /** Called for every problem (stats keep only the first 20). */
  onProblem?: (problem: { exporter: string; reason: string }) => void;
}

const MAX_PROBLEMS = 20;
const IPFIX_HEADER = 16;
const V9_HEADER = 20;

export function createNetflowDecoder(opts: NetflowDecoderOptions = {}): NetflowDecoder {
  // Exporter boot times announced in options records (per exporter and domain), for IPFIX uptime times.
  const systemInit = new Map<string, number>();
  const cache = new TemplateCache(opts.templateTtlMs ?? 30 * 60_000, opts.maxTemplates ?? 10_000);
  const sequences = new SequenceTracker(opts.maxTemplates ?? 10_000);
  const s = {
    packets: 0,
    flows: 0,
    templates: 0,
    optionsTemplates: 0,
    optionRecords: 0,
    noTemplate: 0,
    malformed: 0,
    problems: [] as NetflowStats["problems"],
    versions: {} as Record<string, number>,
    withdrawals: 0,
    nonFlowRecords: 0,
  };

  function packet(buf: Buffer, exporter: { address: string; port: number }, receivedAt: Date = new Date()): HvEvent[] {
    s.packets++;
    const name = `${exporter.address}:${exporter.port}`;
    let bad = false;
    const malformed = (reason: string): void => {
      if (!bad) s.malformed++;
      bad = true;
      const problem = { exporter: name, reason };
      if (s.problems.length < MAX_PROBLEMS) s.problems.push(problem);
      opts.onProblem?.(problem);
    };
    const out: HvEvent[] = [];
    try {
      if (buf.length < 2) {
        malformed(`truncated header: ${buf.length} bytes`);
        return out;
      }
      const version = buf.readUInt16BE(0);
      const key = version === 5 || version === 9 || version === 10 ? String(version) : "other";
      s.versions[key] = (s.versions[key] ?? 0) + 1;
      const now = receivedAt.getTime();
      if (version === 5) decodeV5(buf, exporter, now, malformed, out);
      else if (version === 9 || version === 10) decodeSets(buf, version, exporter, name, now, malformed, out);
      else malformed(`unknown version ${version} (hv reads NetFlow 5, 9 and IPFIX 10)`);
    } catch (err) {
      // Every bound is checked before a read; this is the net under a bug, so one packet never stops the collector.
      malformed(`internal decoder error: ${(err as Error).message}`);
      return [];
    }
    return out;
  }

  function decodeV5(buf: Buffer, exporter: { address: string; port: number }, now: number, malformed: (r: string) => void, out: HvEvent[]): void {
    const h = readV5Header(buf);
    if (typeof h === "string") return malformed(h);
    const info: PacketInfo = {
      collector: "netflow",
      version: 5,
      exporter,
      domain: (h.engineType << 8) | h.engineId,
      sequence: h.sequence,
      exportMs: h.exportMs,
      sysUptimeMs: h.sysUptimeMs,
      receivedMs: now,
      ...(opts.host ? { host: opts.host } : {}),
    };
    for (let i = 0; i < h.count; i++) emit(readV5Record(buf, i), info, undefined, `${h.sequence}:${i}`, out);
    sequences.see(`${exporter.address}:${exporter.port}|5|${info.domain}`, h.sequence, h.count);
  }

  function decodeSets(buf: Buffer, version: 9 | 10, exporter: { address: string; port: number }, name: string, now: number, malformed: (r: string) => void, out: HvEvent[]): void {
    const headerLength = version === 10 ? IPFIX_HEADER : V9_HEADER;
    const label = version === 10 ? "IPFIX" : "v9";
    if (buf.length < headerLength) return malformed(`${label} header needs ${headerLength} bytes, packet has ${buf.length}`);
    let end = buf.length;
    if (version === 10) {
      const length = buf.readUInt16BE(2);
      if (length < IPFIX_HEADER) return malformed(`IPFIX header says the message is ${length} bytes, less than its own header`);
      if (length > buf.length) return malformed(`IPFIX header says the message is ${length} bytes, packet has ${buf.length} (truncated)`);
      end = length;
    }
    const info: PacketInfo =
      version === 10
        ? { collector: "ipfix", version, exporter, domain: buf.readUInt32BE(12), sequence: buf.readUInt32BE(8), exportMs: buf.readUInt32BE(4) * 1000, receivedMs: now }
        : { collector: "netflow", version, exporter, domain: buf.readUInt32BE(16), sequence: buf.readUInt32BE(12), exportMs: buf.readUInt32BE(8) * 1000, sysUptimeMs: buf.readUInt32BE(4), receivedMs: now };
    if (opts.host) info.host = opts.host;
    let broken = false;
    const fail = (reason: string): void => {
      broken = true;
      malformed(reason);
    };
    const scope: ScopeKey = { exporter: name, version, domain: info.domain };
    const scopeName = `${name}|${version}|${info.domain}`;
    const init = systemInit.get(scopeName);
    if (init !== undefined) info.systemInitMs = init;
    const ctx: TemplateSetContext = {
      version,
      scope,
      now,
      cache,
      malformed: fail,
      learned: (options) => (options ? s.optionsTemplates++ : s.templates++),
      withdrew: () => s.withdrawals++,
    };
    const templateSet = version === 10 ? 2 : 0;
    const optionsSet = version === 10 ? 3 : 1;
    // Data records in this message, for IPFIX sequence tracking; undefined once a set could not be counted.
    let records: number | undefined = 0;
    let off = headerLength;
    for (let setIndex = 0; off < end; setIndex++) {
      const left = end - off;
      // Some exporters send a fixed-size datagram and fill what their sets leave with zeros.
      if (allZero(buf, off, end)) break;
      if (left < 4) return malformed(`${label}: ${left} bytes after the last set, too few for a set header`);
      const id = buf.readUInt16BE(off);
      const length = buf.readUInt16BE(off + 2);
      if (length < 4) return malformed(`${label} set ${id} at offset ${off} has length ${length}${length === 0 ? " (zero-length set)" : ", less than its header"}`);
      if (length > left) return malformed(`${label} set ${id} at offset ${off} has length ${length}, only ${left} bytes left in the packet`);
      const bodyStart = off + 4;
      const bodyEnd = off + length;
      if (id === templateSet || id === optionsSet) readTemplateSet(buf, bodyStart, bodyEnd, id === optionsSet, ctx);
      else if (id >= 256) {
        const t = cache.get(scope, id, now);
        if (!t) {
          s.noTemplate++;
          records = undefined;
        } else {
          const read = decodeDataSet(buf, bodyStart, bodyEnd, t, info, scopeName, setIndex, out);
          if (records !== undefined) records += read.records;
          // The set's own length still frames the next set, so the walk goes on.
          if (read.problem) fail(`${label} data set ${id} at offset ${off}: ${read.problem}`);
        }
      }
      // Set ids below 256 other than the template sets are reserved: skipped by their length.
      off = bodyEnd;
    }
    // A malformed packet's sequence number says nothing reliable.
    if (!broken) sequences.see(scopeName, info.sequence, version === 9 ? 1 : records);
  }

  /** Flow records become events; options records are counted (and may announce the exporter's boot time). */
  function decodeDataSet(buf: Buffer, start: number, end: number, t: Template, info: PacketInfo, scopeName: string, setIndex: number, out: HvEvent[]): { records: number; problem?: string } {
    let index = 0;
    const problem = readDataSet(buf, start, end, t, (values) => {
      if (t.options) {
        s.optionRecords++;
        rememberSystemInit(values, info, scopeName);
      } else emit(values, info, t.id, `${info.sequence}:${setIndex}:${index}`, out);
      index++;
    });
    return problem ? { records: index, problem } : { records: index };
  }

  function rememberSystemInit(values: Values, info: PacketInfo, scopeName: string): void {
    const boot = values.get(E.sysInitMs);
    if (typeof boot !== "number" || boot <= 0) return;
    systemInit.delete(scopeName);
    systemInit.set(scopeName, boot);
    // Bounded like the template cache: a flood of spoofed exporters cannot grow it.
    if (systemInit.size > (opts.maxTemplates ?? 10_000)) systemInit.delete(systemInit.keys().next().value as string);
    info.systemInitMs = boot;
  }

  function emit(values: Values, info: PacketInfo, template: number | undefined, discriminator: string, out: HvEvent[]): void {
    const record = recordToFlow(values, info, template, discriminator);
    if (!record) {
      s.nonFlowRecords++;
      return;
    }
    out.push(flowEvent(record));
    s.flows++;
  }

  return {
    packet,
    stats: () => ({
      ...s,
      problems: [...s.problems],
      versions: { ...s.versions },
      expiredTemplates: cache.expired,
      evictedTemplates: cache.evicted,
      activeTemplates: cache.size,
      sequenceLost: sequences.stats.lost,
      sequenceResets: sequences.stats.resets,
    }),
  };
}
