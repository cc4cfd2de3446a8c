// Parsing of one raw auditd text line into a record (go-libaudit's auparse stage). Grouping the
// records of one event together is coalesce.ts's job; turning a group into an Event is normalize.ts's.
//
// Line shape: [node=NAME ] type=TYPE msg=audit(SEC.MS:SERIAL): key=value … [0x1d KEY=value …]
// Values are "double quoted", 'single quoted' (whose content is itself key=value pairs, as in
// USER_* records), hex-encoded when the kernel found characters it would not print, or bare.

import { RECORD_TYPES } from "../../../src/collectors/audit/tables.generated.js";

export interface ParsedRecord {
  node?: string;
  type: string;
  typeNum?: number;
  /** "SEC.MS" exactly as written. */
  time: string;
  /** Milliseconds since the epoch. */
  timeMs: number;
  serial: number;
  fields: Record<string, string | null>;
  enriched?: Record<string, string>;
  /** Field-level problems that did not stop the record from being usable (e.g. invalid hex). */
  warnings?: string[];
}

export type ParseResult =
  | { ok: true; record: ParsedRecord }
  | { ok: false; reason: string };

/** auditd never writes a record near this long (the kernel caps one at ~9 KB, enrichment adds a little). */
export const MAX_LINE_LENGTH = 64 * 1024;

const TYPE_NUMBERS: Record<string, number> = Object.fromEntries(
  Object.entries(RECORD_TYPES).map(([num, name]) => [name, Number(num)]),
);

/**
 * Fields the kernel and the audit tools hex-encode when their value holds a space, a quote or a
 * control character (auparse's "escaped" fields). Anything else that looks like hex — syscall
 * arguments a0…a3, inode numbers, arch — is a number, not text, and stays as written.
 */
const ENCODED_FIELDS = new Set([
  "exe", "comm", "cwd", "name", "path", "proctitle", "key", "acct", "cmd", "data", "dir", "file",
  "watch", "vm", "vm-ctx", "img-ctx", "old-disk", "new-disk", "old-fs", "new-fs", "old-chardev",
  "new-chardev", "old-net", "new-net", "old-rng", "new-rng", "device", "cgroup", "grp", "new_group",
  "ocomm", "sw", "root_dir", "ns", "old_val", "new_val", "hostname", "addr", "terminal", "id",
]);

const RECORD_TYPE = /^(?:[A-Z][A-Z0-9_]{0,63}|UNKNOWN\[\d{1,10}\])$/;
const EXECVE_ARG = /^a\d+$/;
const EXECVE_CHUNK = /^a\d+\[\d+\]$/;
const HEX = /^(?:[0-9A-Fa-f]{2})+$/;
const ODD_HEX = /^[0-9A-F](?:[0-9A-F]{2})*$/;

/** `cutBytes`: bytes the line source already dropped from the end of an overlong line (SourceLine.truncatedBytes). */
export function parseRecord(line: string, cutBytes = 0): ParseResult {
  // The real length, not what is left of the line after its source cut it.
  if (cutBytes > 0 || line.length > MAX_LINE_LENGTH) return fail(`line too long (${Buffer.byteLength(line) + cutBytes} bytes, limit ${MAX_LINE_LENGTH})`);
  const nul = line.indexOf("\u0000");
  if (nul >= 0) return fail(`NUL byte at column ${nul + 1}`);

  let pos = 0;
  let node: string | undefined;
  // Some forwarders (and old audispd) prefix node= or host=; anything else before type= is not ours.
  while (line.startsWith("node=", pos) || line.startsWith("host=", pos)) {
    const end = line.indexOf(" ", pos);
    if (end < 0) return fail("line ends after node=");
    node = line.slice(pos + 5, end);
    pos = end + 1;
  }
  if (!line.startsWith("type=", pos)) return fail("no type= at the start of the line");
  const typeEnd = line.indexOf(" ", pos);
  if (typeEnd < 0) return fail("line ends after type=");
  const rawType = line.slice(pos + 5, typeEnd);
  if (rawType.length === 0) return fail("empty type=");
  // Record types are upper-case names (SYSCALL, VIRT_CONTROL) or UNKNOWN[1334]: anything else is
  // not auditd's, and must not become an event action or a stored type.
  if (!RECORD_TYPE.test(rawType)) return fail(`bad record type ${JSON.stringify(rawType.slice(0, 40))}${rawType.length > 40 ? "…" : ""}`);
  pos = typeEnd + 1;

  if (!line.startsWith("msg=audit(", pos)) return fail("no msg=audit( after type=");
  const stampStart = pos + 10;
  const stampEnd = line.indexOf(")", stampStart);
  if (stampEnd < 0) return fail("msg=audit( is not closed");
  const stamp = parseStamp(line.slice(stampStart, stampEnd));
  if (typeof stamp === "string") return fail(stamp);
  pos = stampEnd + 1;
  if (line[pos] === ":") pos++;

  const { type, typeNum } = resolveType(rawType);
  const split = line.indexOf("\u001d", pos);
  const body = split < 0 ? line.slice(pos) : line.slice(pos, split);
  const warnings: string[] = [];
  const fields = parseFields(body, type, warnings);
  const record: ParsedRecord = { type, time: stamp.time, timeMs: stamp.timeMs, serial: stamp.serial, fields };
  if (typeNum !== undefined) record.typeNum = typeNum;
  if (node !== undefined) record.node = node;
  if (split >= 0) {
    record.enriched = parseFields(line.slice(split + 1), "", warnings) as Record<string, string>;
  }
  if (warnings.length > 0) record.warnings = warnings;
  return { ok: true, record };
}

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}

function parseStamp(text: string): { time: string; timeMs: number; serial: number } | string {
  const colon = text.indexOf(":");
  const dot = text.indexOf(".");
  if (colon < 0 || dot < 0 || dot > colon) return `bad timestamp "${text.slice(0, 40)}" (want SEC.MS:SERIAL)`;
  const sec = text.slice(0, dot);
  const ms = text.slice(dot + 1, colon);
  const serial = text.slice(colon + 1);
  if (!isDigits(sec) || !isDigits(ms) || !isDigits(serial) || sec.length > 12 || ms.length > 3 || serial.length > 10) {
    return `bad timestamp "${text.slice(0, 40)}" (want SEC.MS:SERIAL)`;
  }
  const serialNum = Number(serial);
  if (serialNum > 0xffffffff) return `serial ${serial} is larger than 32 bits`;
  return { time: `${sec}.${ms}`, timeMs: Number(sec) * 1000 + Number(ms.padEnd(3, "0")), serial: serialNum };
}

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function resolveType(raw: string): { type: string; typeNum?: number } {
  if (raw.startsWith("UNKNOWN[") && raw.endsWith("]")) {
    const num = Number(raw.slice(8, -1));
    if (Number.isInteger(num)) return { type: RECORD_TYPES[num] ?? raw, typeNum: num };
  }
  return { type: raw, typeNum: TYPE_NUMBERS[raw] };
}

/**
 * Splits `key=value key2="value two" msg='inner=pairs'` into fields. Words without `=` (AVC's
 * `avc: denied { read write } for`) are gathered into `seresult`/`seperms` as auparse names them.
 * The first occurrence of a key wins; the kernel never repeats one, so a repeat is hostile or broken.
 */
function parseFields(body: string, type: string, warnings: string[]): Record<string, string | null> {
  // No prototype: a hostile line's `constructor=` or `__proto__=` is just another field.
  const fields: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
  const len = body.length;
  let i = 0;
  while (i < len) {
    while (i < len && body.charCodeAt(i) === 32) i++;
    if (i >= len) break;
    let keyEnd = i;
    while (keyEnd < len) {
      const c = body.charCodeAt(keyEnd);
      if (c === 61 /* = */ || c === 32) break;
      keyEnd++;
    }
    if (keyEnd >= len || body.charCodeAt(keyEnd) === 32) {
      i = parseBareWord(body, i, keyEnd, fields);
      continue;
    }
    const key = body.slice(i, keyEnd);
    let vStart = keyEnd + 1;
    const q = body.charCodeAt(vStart);
    let value: string;
    let quoted = false;
    if (q === 34 /* " */ || q === 39 /* ' */) {
      const close = body.indexOf(q === 34 ? '"' : "'", vStart + 1);
      if (close < 0) {
        warnings.push(`field ${key}: unterminated quote`);
        value = body.slice(vStart + 1);
        i = len;
      } else {
        value = body.slice(vStart + 1, close);
        i = close + 1;
      }
      quoted = true;
      if (q === 39 && key === "msg") {
        // USER_* and daemon records carry their real content as msg='k=v …'.
        const inner = parseFields(value, type, warnings);
        for (const k in inner) if (fields[k] === undefined) fields[k] = inner[k] as string | null;
        continue;
      }
    } else {
      let vEnd = vStart;
      while (vEnd < len && body.charCodeAt(vEnd) !== 32) vEnd++;
      // (Followed the product: shadow's unquoted op= keeps its words.)
      if (key === "op") vEnd = extendOverBareWords(body, vEnd);
      value = body.slice(vStart, vEnd);
      i = vEnd;
      vStart = vEnd;
    }
    if (key.length === 0 || fields[key] !== undefined) {
      if (key.length === 0) warnings.push("empty field name");
      continue;
    }
    if (quoted) {
      // A long argument's chunks are joined as bytes later, and a quoted chunk is text, not hex.
      fields[key] = type === "EXECVE" && EXECVE_CHUNK.test(key) ? `"${value}"` : value;
    } else {
      fields[key] = decodeValue(key, value, type, warnings);
    }
  }
  return fields;
}

function extendOverBareWords(body: string, end: number): number {
  let pos = end;
  for (;;) {
    let start = pos;
    while (start < body.length && body.charCodeAt(start) === 32) start++;
    let stop = start;
    while (stop < body.length && body.charCodeAt(stop) !== 32) stop++;
    const word = body.slice(start, stop);
    if (word === "" || word.includes("=") || word === "{") return pos;
    pos = stop;
  }
}

function parseBareWord(body: string, start: number, end: number, fields: Record<string, string | null>): number {
  const word = body.slice(start, end);
  if (word === "{") {
    const close = body.indexOf("}", end);
    const stop = close < 0 ? body.length : close;
    const perms = body.slice(end, stop).trim().split(/\s+/).filter(Boolean);
    if (fields.seperms === undefined) fields.seperms = perms.join(",");
    return close < 0 ? body.length : close + 1;
  }
  if ((word === "denied" || word === "granted") && fields.seresult === undefined) fields.seresult = word;
  return end;
}

function decodeValue(key: string, value: string, type: string, warnings: string[]): string | null {
  if (value === "(null)") return null;
  if (type === "EXECVE") {
    // Chunks of one long argument may split a multi-byte character, so they are joined as bytes
    // later (normalize.ts); keep them as written.
    if (EXECVE_CHUNK.test(key)) return value;
    if (!EXECVE_ARG.test(key)) return value;
  } else if (!ENCODED_FIELDS.has(key)) {
    return value;
  }
  if (value === "?" || value === "(none)") return value;
  if (!HEX.test(value)) {
    // The kernel quotes or hex-encodes EXECVE arguments and proctitle, always; other writers (old
    // tools, test data) leave plain words unquoted, which are fine. Odd-length hex is damage either way.
    if (type === "EXECVE" || key === "proctitle" || ODD_HEX.test(value)) warnings.push(`field ${key}: unquoted value is not valid hex`);
    return value;
  }
  return decodeHex(value, key);
}

/** Hex → text. NULs separate proctitle's arguments and (as 0x01) multiple audit keys: keep them visible as separators. */
export function decodeHex(hex: string, key = ""): string {
  const text = Buffer.from(hex, "hex").toString("utf8");
  if (key === "proctitle") return text.replace(/\u0000+$/, "").replace(/\u0000/g, " ");
  return text;
}
