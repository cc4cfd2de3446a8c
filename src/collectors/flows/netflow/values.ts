// Reading one field value out of a packet. Callers have already checked that the bytes exist.

import { formatIPv6Groups } from "../../../events/address.js";

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2208988800;

/** Big-endian unsigned of 1–8 bytes; above 2^53 precision is lost (counters that large are not meaningful here). */
export function readUnsigned(buf: Buffer, off: number, len: number): number {
  if (len === 1) return buf[off]!;
  if (len === 2) return buf.readUInt16BE(off);
  if (len === 4) return buf.readUInt32BE(off);
  if (len === 8) return buf.readUInt32BE(off) * 0x1_0000_0000 + buf.readUInt32BE(off + 4);
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + buf[off + i]!;
  return v;
}

export function readIPv4(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** RFC 5952 text of 16 address bytes. */
export function readIPv6(buf: Buffer, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(off + i * 2));
  return formatIPv6Groups(groups);
}

/** Lower case with colons, the form libvirt and hv's inventory use. */
export function readMac(buf: Buffer, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(buf[off + i]!.toString(16).padStart(2, "0"));
  return parts.join(":");
}

/** NTP timestamp (RFC 7011 dateTimeMicroseconds/Nanoseconds) → Unix milliseconds. */
export function readNtpMs(buf: Buffer, off: number): number {
  const seconds = buf.readUInt32BE(off) - NTP_UNIX_OFFSET_S;
  const fraction = buf.readUInt32BE(off + 4) / 0x1_0000_0000;
  return Math.round((seconds + fraction) * 1000);
}

/** ISO text for a Unix-ms time, or undefined when it is 0 or outside what a Date can hold. */
export function isoTime(ms: number | undefined): string | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0 || ms > 8.64e15) return undefined;
  return new Date(ms).toISOString();
}
