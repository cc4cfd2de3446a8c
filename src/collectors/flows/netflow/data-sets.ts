// Data records of v9 and IPFIX data sets, read field by field with the template they name.
// Fields hv does not map (unknown, enterprise-specific, odd lengths) are skipped by their length.

import { allZero } from "./template-sets.js";
import { VARLEN, type Template } from "./templates.js";
import { readIPv4, readIPv6, readMac, readNtpMs, readUnsigned } from "./values.js";

/** Element key (see TemplateField.key) → value: numbers for counters and Unix-ms times, text for addresses. */
export type Values = Map<number, number | string>;

/**
 * Calls onRecord for each record in the set body [start, end); trailing bytes shorter than a record
 * (or all zero) are padding. Returns a reason when a record runs past the set end: that record and
 * the rest of the set are dropped, never emitted half-read.
 */
export function readDataSet(buf: Buffer, start: number, end: number, t: Template, onRecord: (values: Values) => void): string | undefined {
  let off = start;
  while (end - off >= t.minLength) {
    const values: Values = new Map();
    const next = readRecord(buf, off, end, t, values);
    if (next < 0) {
      if (allZero(buf, off, end)) return undefined;
      return `record at offset ${off} of template ${t.id} runs past the set end (${end}): a variable-length field is longer than what is left`;
    }
    off = next;
    onRecord(values);
  }
  return undefined;
}

/** The offset after the record, or -1 when a variable-length field does not fit. */
function readRecord(buf: Buffer, start: number, end: number, t: Template, values: Values): number {
  let off = start;
  for (const f of t.fields) {
    let len = f.length;
    if (len === VARLEN) {
      if (off >= end) return -1;
      len = buf[off]!;
      off += 1;
      if (len === 255) {
        if (end - off < 2) return -1;
        len = buf.readUInt16BE(off);
        off += 2;
      }
    }
    if (end - off < len) return -1;
    if (f.key !== undefined) values.set(f.key, readValue(buf, off, len, f.kind!));
    off += len;
  }
  return off;
}

function readValue(buf: Buffer, off: number, len: number, kind: NonNullable<Template["fields"][number]["kind"]>): number | string {
  switch (kind) {
    case "unsigned":
      return readUnsigned(buf, off, len);
    case "ipv4":
      return readIPv4(buf, off);
    case "ipv6":
      return readIPv6(buf, off);
    case "mac":
      return readMac(buf, off);
    case "seconds":
      return buf.readUInt32BE(off) * 1000;
    case "milliseconds":
      return readUnsigned(buf, off, 8);
    case "ntp":
      return readNtpMs(buf, off);
  }
}
