// One decoded v5/v9/IPFIX record → hv's FlowRecord (then flowEvent). NetFlow records are
// unidirectional unless the exporter adds the reverse counters (RFC 5103, initiator/responder).

import type { FlowFields } from "../../../events/event.js";
import type { FlowRecord, FlowSide } from "../flow-event.js";
import type { Values } from "./data-sets.js";
import { E, REVERSE_KEY } from "./elements.js";
import { isoTime } from "./values.js";

/** What every record of one packet shares. */
export interface PacketInfo {
  collector: "netflow" | "ipfix";
  version: number;
  exporter: { address: string; port: number };
  domain: number;
  sequence: number;
  /** Export time from the header (Unix ms). */
  exportMs: number;
  /** v5/v9: the exporter's uptime at export, the base of the records' uptime timestamps. */
  sysUptimeMs?: number;
  /** IPFIX: the exporter's boot time (systemInitTimeMilliseconds) from its options records, base of uptime times. */
  systemInitMs?: number;
  /** When hv received the packet (Unix ms): the timestamp of last resort. */
  receivedMs: number;
  host?: string;
}

const TRANSPORT_NAMES: Record<number, string> = { 1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp", 132: "sctp", 136: "udplite", 33: "dccp" };
/** Protocols whose records carry real ports (ICMP puts type/code in the port fields). */
const PORTED = new Set([6, 17, 33, 132, 136]);
const TCP_FLAG_NAMES = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

export function transportName(protocol: number | undefined): string {
  if (protocol === undefined) return "unknown";
  return TRANSPORT_NAMES[protocol] ?? String(protocol);
}

export function tcpFlagNames(bits: number): string[] {
  return TCP_FLAG_NAMES.filter((_, i) => bits & (1 << i));
}

/** The flow a record describes, or undefined when it names no source and destination address (not a flow record). */
export function recordToFlow(v: Values, p: PacketInfo, template: number | undefined, discriminator: string): FlowRecord | undefined {
  const srcIp = str(v, E.srcV4) ?? str(v, E.srcV6);
  const dstIp = str(v, E.dstV4) ?? str(v, E.dstV6);
  if (srcIp === undefined || dstIp === undefined) return undefined;
  const protocol = num(v, E.protocol);
  const ported = protocol !== undefined && PORTED.has(protocol);
  const source: FlowSide = { ip: srcIp };
  const destination: FlowSide = { ip: dstIp };
  if (ported) setIf(source, "port", num(v, E.srcPort));
  if (ported) setIf(destination, "port", num(v, E.dstPort));
  setIf(source, "mac", str(v, E.srcMac) ?? str(v, E.postSrcMac));
  setIf(destination, "mac", str(v, E.dstMac) ?? str(v, E.postDstMac));
  setIf(source, "bytes", num(v, E.octets) ?? num(v, E.octetsTotal) ?? num(v, E.initiatorOctets));
  setIf(source, "packets", num(v, E.packets) ?? num(v, E.packetsTotal) ?? num(v, E.initiatorPackets));
  setIf(destination, "bytes", num(v, E.responderOctets) ?? num(v, REVERSE_KEY + E.octets) ?? num(v, REVERSE_KEY + E.octetsTotal));
  setIf(destination, "packets", num(v, E.responderPackets) ?? num(v, REVERSE_KEY + E.packets) ?? num(v, REVERSE_KEY + E.packetsTotal));

  const flow: FlowFields = {
    collector: p.collector,
    phase: "end",
    exporter: { address: p.exporter.address, port: p.exporter.port, version: p.version, domain: p.domain, ...(template !== undefined ? { template } : {}) },
  };
  const flowId = num(v, E.flowId);
  if (flowId !== undefined) flow.id = String(flowId);
  const { start, end } = flowTimes(v, p);
  const startIso = isoTime(start);
  const endIso = isoTime(end);
  if (startIso) flow.start = startIso;
  if (endIso) flow.end = endIso;
  if (startIso && endIso && end! >= start!) flow.duration_ms = end! - start!;
  const flags = num(v, E.tcpFlags);
  if (flags !== undefined && protocol === 6) flow.tcp_flags = tcpFlagNames(flags);

  const record: FlowRecord = {
    timestamp: endIso ?? isoTime(p.exportMs) ?? new Date(p.receivedMs).toISOString(),
    transport: transportName(protocol),
    source,
    destination,
    flow,
    discriminator,
  };
  if (protocol !== undefined) record.protocol = protocol;
  const ingress = num(v, E.ingress);
  const egress = num(v, E.egress);
  // ifIndex 0 means "unknown interface" (RFC 3954, RFC 7011).
  if (ingress) record.ingress = String(ingress);
  if (egress) record.egress = String(egress);
  if (p.host) record.host = p.host;
  return record;
}

/** Start and end in Unix ms from whichever time elements the record has. */
function flowTimes(v: Values, p: PacketInfo): { start?: number; end?: number } {
  let start = num(v, E.startMs) ?? num(v, E.startSec) ?? num(v, E.startUs) ?? num(v, E.startNs);
  let end = num(v, E.endMs) ?? num(v, E.endSec) ?? num(v, E.endUs) ?? num(v, E.endNs);
  const startDelta = num(v, E.startDeltaUs);
  const endDelta = num(v, E.endDeltaUs);
  if (start === undefined && startDelta !== undefined) start = p.exportMs - Math.round(startDelta / 1000);
  if (end === undefined && endDelta !== undefined) end = p.exportMs - Math.round(endDelta / 1000);
  start ??= fromUptime(num(v, E.startUptime), v, p);
  end ??= fromUptime(num(v, E.endUptime), v, p);
  const duration = num(v, E.durationMs) ?? micros(num(v, E.durationUs));
  if (duration !== undefined) {
    if (start !== undefined && end === undefined) end = start + duration;
    else if (end !== undefined && start === undefined) start = end - duration;
  }
  return { start, end };
}

/**
 * Uptime-based times (ms since the exporter booted). v5/v9 give the uptime at export in the header:
 * the flow happened (sysUptime − t) ms before the export time, modulo 2^32 for the 49.7-day wrap.
 * IPFIX needs systemInitTimeMilliseconds, in the record itself or from the exporter's options records.
 */
function fromUptime(t: number | undefined, v: Values, p: PacketInfo): number | undefined {
  if (t === undefined) return undefined;
  if (p.sysUptimeMs !== undefined) return p.exportMs - ((p.sysUptimeMs - t) >>> 0);
  const init = num(v, E.sysInitMs) ?? p.systemInitMs;
  return init !== undefined ? init + t : undefined;
}

function micros(us: number | undefined): number | undefined {
  return us === undefined ? undefined : Math.round(us / 1000);
}

function num(v: Values, key: number): number | undefined {
  const x = v.get(key);
  return typeof x === "number" ? x : undefined;
}

function str(v: Values, key: number): string | undefined {
  const x = v.get(key);
  return typeof x === "string" ? x : undefined;
}

function setIf<K extends keyof FlowSide>(side: FlowSide, key: K, value: FlowSide[K] | undefined): void {
  if (value !== undefined) side[key] = value;
}
