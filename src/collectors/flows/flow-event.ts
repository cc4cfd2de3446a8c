// One constructor for flow events, whatever saw the flow (conntrack, NetFlow, IPFIX), so every
// flow detector and VM attribution read the same fields.

import { createHash } from "node:crypto";
import { isIPv6 } from "node:net";
import { parseIPv6 } from "../../events/address.js";
import type { FlowFields, HvEvent } from "../../events/event.js";

export interface FlowSide {
  ip: string;
  port?: number;
  mac?: string;
  /** Sent by this side. */
  bytes?: number;
  packets?: number;
}

export interface FlowRecord {
  /** When the collector observed this record (event time). */
  timestamp: string;
  transport: string;
  /** IANA protocol number, when known (6 tcp, 17 udp, 1 icmp, 58 ipv6-icmp). */
  protocol?: number;
  source: FlowSide;
  destination: FlowSide;
  flow: FlowFields;
  /** Interfaces the flow crossed (a VM's tap device names the VM). */
  ingress?: string;
  egress?: string;
  host?: string;
  /** Distinguishes records that would otherwise look alike (exporter sequence and record index). */
  discriminator?: string;
}

const TRANSPORTS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, "ipv6-icmp": 58, icmpv6: 58, sctp: 132, udplite: 136, dccp: 33 };

export function protocolNumber(transport: string): number | undefined {
  return TRANSPORTS[transport.toLowerCase()];
}

export function flowEvent(r: FlowRecord): HvEvent {
  const proto = r.protocol ?? protocolNumber(r.transport);
  const { flow } = r;
  const type = flow.phase === "new" ? ["connection", "start"] : flow.phase === "end" ? ["connection", "end"] : ["connection", "change"];
  const event: HvEvent = {
    "@timestamp": r.timestamp,
    event: {
      id: flowId(r),
      kind: "event",
      module: "flow",
      action: `flow_${flow.phase}`,
      category: ["network"],
      type,
      outcome: "unknown",
    },
    source: { ...r.source },
    destination: { ...r.destination },
    network: {
      transport: r.transport.toLowerCase(),
      type: isIPv6(r.source.ip) ? "ipv6" : "ipv4",
      ...(proto !== undefined ? { iana_number: proto } : {}),
    },
    flow,
  };
  const bytes = sum(r.source.bytes, r.destination.bytes);
  const packets = sum(r.source.packets, r.destination.packets);
  if (bytes !== undefined) event.network!.bytes = bytes;
  if (packets !== undefined) event.network!.packets = packets;
  if (proto !== undefined) {
    const cid = communityId(proto, r.source.ip, r.source.port, r.destination.ip, r.destination.port);
    if (cid) event.network!.community_id = cid;
  }
  if (r.ingress || r.egress) {
    event.observer = {};
    if (r.ingress) event.observer.ingress = { interface: { name: r.ingress } };
    if (r.egress) event.observer.egress = { interface: { name: r.egress } };
  }
  if (r.host) event.host = { name: r.host };
  return event;
}

function sum(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);
}

/** Stable: the same record read twice (a replay, a restart) gets the same id. */
function flowId(r: FlowRecord): string {
  const parts = [r.flow.collector, r.flow.phase, r.flow.id ?? "", r.timestamp, r.transport, r.source.ip, r.source.port ?? "", r.destination.ip, r.destination.port ?? "", r.discriminator ?? ""];
  return createHash("sha1").update(parts.join("|")).digest("hex").slice(0, 24);
}

/**
 * Community ID v1 (seed 0): sha1 over seed, ordered addresses, protocol, pad, ordered ports;
 * "1:" + base64. For ICMP the ports are type/code and are not reordered (hv has none: omitted).
 */
export function communityId(proto: number, srcIp: string, srcPort: number | undefined, dstIp: string, dstPort: number | undefined): string | undefined {
  const a = ipBytes(srcIp);
  const b = ipBytes(dstIp);
  if (!a || !b || a.length !== b.length) return undefined;
  const hasPorts = srcPort !== undefined && dstPort !== undefined && (proto === 6 || proto === 17 || proto === 132);
  let [ip1, ip2, p1, p2] = [a, b, srcPort ?? 0, dstPort ?? 0];
  const cmp = Buffer.compare(a, b);
  if (cmp > 0 || (cmp === 0 && hasPorts && p1 > p2)) [ip1, ip2, p1, p2] = [b, a, p2, p1];
  const head = Buffer.from([0, 0]);
  const tail = Buffer.from([proto, 0]);
  const ports = Buffer.alloc(hasPorts ? 4 : 0);
  if (hasPorts) {
    ports.writeUInt16BE(p1, 0);
    ports.writeUInt16BE(p2, 2);
  }
  return "1:" + createHash("sha1").update(Buffer.concat([head, ip1, ip2, tail, ports])).digest("base64");
}

/** 4 or 16 bytes of an address, or undefined when it is not one. */
export function ipBytes(ip: string): Buffer | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    const parts = ip.split(".").map(Number);
    return parts.every((p) => p <= 255) ? Buffer.from(parts) : undefined;
  }
  const n = parseIPv6(ip);
  if (n === undefined) return undefined;
  const buf = Buffer.alloc(16);
  buf.writeBigUInt64BE(n >> 64n, 0);
  buf.writeBigUInt64BE(n & 0xffff_ffff_ffff_ffffn, 8);
  return buf;
}
