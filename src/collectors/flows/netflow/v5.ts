// NetFlow v5: a 24-byte header and up to 30 fixed 48-byte records, no templates. Records are read
// into the same element keys as v9/IPFIX so one mapping (record.ts) serves every version.

import type { Values } from "./data-sets.js";
import { E } from "./elements.js";
import { readIPv4 } from "./values.js";

export const V5_HEADER = 24;
export const V5_RECORD = 48;
/** Cisco's limit: more records than this do not fit a v5 export datagram. */
export const V5_MAX_RECORDS = 30;

export interface V5Header {
  count: number;
  sysUptimeMs: number;
  exportMs: number;
  sequence: number;
  engineType: number;
  engineId: number;
}

/** The header, or a reason the packet cannot be a whole v5 export. */
export function readV5Header(buf: Buffer): V5Header | string {
  if (buf.length < V5_HEADER) return `v5 header needs ${V5_HEADER} bytes, packet has ${buf.length}`;
  const count = buf.readUInt16BE(2);
  if (count === 0) return "v5 header says 0 records";
  if (count > V5_MAX_RECORDS) return `v5 header says ${count} records, more than the ${V5_MAX_RECORDS} a v5 packet can hold`;
  const need = V5_HEADER + count * V5_RECORD;
  if (buf.length < need) return `v5 header says ${count} records (${need} bytes), packet has ${buf.length} bytes`;
  return {
    count,
    sysUptimeMs: buf.readUInt32BE(4),
    exportMs: buf.readUInt32BE(8) * 1000 + Math.floor(buf.readUInt32BE(12) / 1e6),
    sequence: buf.readUInt32BE(16),
    engineType: buf[20]!,
    engineId: buf[21]!,
  };
}

export function readV5Record(buf: Buffer, index: number): Values {
  const o = V5_HEADER + index * V5_RECORD;
  const v: Values = new Map();
  v.set(E.srcV4, readIPv4(buf, o));
  v.set(E.dstV4, readIPv4(buf, o + 4));
  v.set(E.ingress, buf.readUInt16BE(o + 12));
  v.set(E.egress, buf.readUInt16BE(o + 14));
  v.set(E.packets, buf.readUInt32BE(o + 16));
  v.set(E.octets, buf.readUInt32BE(o + 20));
  v.set(E.startUptime, buf.readUInt32BE(o + 24));
  v.set(E.endUptime, buf.readUInt32BE(o + 28));
  v.set(E.srcPort, buf.readUInt16BE(o + 32));
  v.set(E.dstPort, buf.readUInt16BE(o + 34));
  v.set(E.tcpFlags, buf[o + 37]!);
  v.set(E.protocol, buf[o + 38]!);
  return v;
}
