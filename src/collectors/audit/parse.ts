// Parsing of one raw auditd text line into a record (go-libaudit's auparse stage). Grouping the
// records of one event together is coalesce.ts's job; turning a group into an Event is normalize.ts's.
//
// Line shape: [node=NAME ] type=TYPE msg=audit(SEC.MS:SERIAL): key=value … [0x1d KEY=value …]
// Values are "double quoted", 'single quoted' (whose content is itself key=value pairs, as in
// USER_* records), hex-encoded when the kernel found characters it would not print, or bare.

import { CHUNK, ENCODED, PLAIN, ShapeCache, type Fields, type Shape } from "./field-shapes.js";
import { RECORD_TYPES } from "./tables.generated.js";

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

/** Record type name → its number. The name is returned as this table's own string, so the
 * `rec.type === "SYSCALL"` tests everywhere downstream compare one pointer, not characters. */
const TYPES = new Map<string, { type: string; typeNum: number }>(
  Object.entries(RECORD_TYPES).map(([num, name]) => [name, { type: name, typeNum: Number(num) }]),
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

/** What an auditd record type looks like: an upper-case name (SYSCALL, VIRT_CONTROL) or UNKNOWN[1334]. */
const RECORD_TYPE = /^(?:[A-Z][A-Z0-9_]{0,63}|UNKNOWN\[\d{1,10}\])$/;

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
  // Anything else than a record type is not auditd's, and must not become an event action or a
  // stored type. The known names (nearly every line) are looked up, not matched.
  if (!TYPES.has(rawType) && !RECORD_TYPE.test(rawType)) return fail(`bad record type ${JSON.stringify(rawType.slice(0, 40))}${rawType.length > 40 ? "…" : ""}`);
  pos = typeEnd + 1;

  if (!line.startsWith("msg=audit(", pos)) return fail("no msg=audit( after type=");
  const stampStart = pos + 10;
  const stampEnd = line.indexOf(")", stampStart);
  if (stampEnd < 0) return fail("msg=audit( is not closed");
  const stamp = parseStamp(line, stampStart, stampEnd);
  if (typeof stamp === "string") return fail(stamp);
  pos = stampEnd + 1;
  if (line.charCodeAt(pos) === 58 /* : */) pos++;

  const { type, typeNum } = resolveType(rawType);
  const split = line.indexOf("\u001d", pos);
  const warnings: string[] = [];
  const fields = readFields(line, pos, split < 0 ? line.length : split, type === "EXECVE", type, warnings);
  const record: ParsedRecord = { type, time: stamp.time, timeMs: stamp.timeMs, serial: stamp.serial, fields };
  if (typeNum !== undefined) record.typeNum = typeNum;
  if (node !== undefined) record.node = node;
  if (split >= 0) record.enriched = readFields(line, split + 1, line.length, false, enrichedShapeKey(type), warnings) as Record<string, string>;
  if (warnings.length > 0) record.warnings = warnings;
  return { ok: true, record };
}

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}

/** `SEC.MS:SERIAL` between `start` and `end`, read in place (no substrings but the time itself). */
function parseStamp(line: string, start: number, end: number): { time: string; timeMs: number; serial: number } | string {
  const colon = line.indexOf(":", start);
  const dot = line.indexOf(".", start);
  const bad = (): string => `bad timestamp "${line.slice(start, Math.min(end, start + 40))}" (want SEC.MS:SERIAL)`;
  if (colon < 0 || colon >= end || dot < 0 || dot > colon) return bad();
  const sec = digitsValue(line, start, dot, 12);
  const ms = digitsValue(line, dot + 1, colon, 3);
  const serial = digitsValue(line, colon + 1, end, 10);
  if (sec < 0 || ms < 0 || serial < 0) return bad();
  if (serial > 0xffffffff) return `serial ${line.slice(colon + 1, end)} is larger than 32 bits`;
  // Milliseconds as written: ".5" is 500 ms, ".05" 50 ms.
  const scale = colon - dot - 1 === 1 ? 100 : colon - dot - 1 === 2 ? 10 : 1;
  return { time: line.slice(start, colon), timeMs: sec * 1000 + ms * scale, serial };
}

/** The decimal number written in [start, end), or -1 unless it is 1 to `maxDigits` digits. */
function digitsValue(s: string, start: number, end: number, maxDigits: number): number {
  if (end <= start || end - start > maxDigits) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

function resolveType(raw: string): { type: string; typeNum?: number } {
  const known = TYPES.get(raw);
  if (known) return known;
  if (raw.startsWith("UNKNOWN[") && raw.endsWith("]")) {
    const num = Number(raw.slice(8, -1));
    if (Number.isInteger(num)) return { type: RECORD_TYPES[num] ?? raw, typeNum: num };
  }
  return { type: raw };
}

/** ENRICHED parts have key sequences of their own, per record type. */
const enrichedKeys = new Map<string, string>();
function enrichedShapeKey(type: string): string {
  let key = enrichedKeys.get(type);
  if (key === undefined) {
    key = `\u001d${type}`;
    // Types are a few dozen names; a stream of made-up ones must not grow this without bound.
    if (enrichedKeys.size < 1024) enrichedKeys.set(type, key);
  }
  return key;
}
const shapes = new ShapeCache();
/** Scratch for one line's tokens (a token takes at least two characters: `k=`). */
const MAX_TOKENS = MAX_LINE_LENGTH / 2;
/** Per token: key start, key end, value start, value end (inside the quotes of a quoted value). */
const spans = new Int32Array(MAX_TOKENS * 4);
const quoted = new Uint8Array(MAX_TOKENS);
const values: Array<string | null> = [];

/**
 * The fields of line[from, to). Lines made only of `key=value` pairs (nearly every kernel record)
 * are read in one pass into `spans`, their keys compared as they are scanned with the key
 * sequence last seen for the record type, and built by that sequence's constructor
 * (field-shapes.ts). Anything else — bare words, msg='…', empty keys, an unterminated quote — is
 * left to parseFields, which handles every case and says what is wrong.
 */
function readFields(line: string, from: number, to: number, execve: boolean, shapeKey: string, warnings: string[]): Fields {
  const recent = shapes.recentFor(shapeKey);
  const guess = recent?.[0];
  const expect = guess?.assigns;
  let matching = expect !== undefined;
  /** Tokens whose values are already in `values`: those before the first key that differed from the guess. */
  let decoded = 0;
  const warned = warnings.length;
  let n = 0;
  let i = from;
  /** The first space at or after i (or `to`): where an unquoted value ends, and no key may reach. */
  let space = -1;
  while (i < to) {
    while (i < to && line.charCodeAt(i) === 32) i++;
    if (i >= to) break;
    const keyStart = i;
    let keyEnd = -1;
    if (matching) {
      // The expected `key=` (safe characters only, so it cannot run past `to` or over a space).
      const assign = expect![n];
      if (assign !== undefined && line.startsWith(assign, i)) keyEnd = i + assign.length - 1;
      else matching = false;
    }
    if (space < i) {
      space = line.indexOf(" ", i);
      if (space < 0 || space > to) space = to;
    }
    if (keyEnd < 0) {
      keyEnd = line.indexOf("=", i);
      if (keyEnd < 0 || keyEnd >= space || keyEnd === keyStart) return reparse(line, from, to, execve, warnings, warned);
    }
    const vStart = keyEnd + 1;
    const q = vStart < to ? line.charCodeAt(vStart) : -1;
    const t = n * 4;
    spans[t] = keyStart;
    spans[t + 1] = keyEnd;
    if (q === 34 /* " */ || q === 39 /* ' */) {
      const close = line.indexOf(q === 34 ? '"' : "'", vStart + 1);
      if (close < 0 || close >= to || (q === 39 && keyEnd - keyStart === 3 && line.startsWith("msg", keyStart))) {
        return reparse(line, from, to, execve, warnings, warned);
      }
      spans[t + 2] = vStart + 1;
      spans[t + 3] = close;
      quoted[n] = 1;
      i = close + 1;
    } else {
      spans[t + 2] = vStart;
      spans[t + 3] = space;
      quoted[n] = 0;
      i = space;
    }
    // While the keys follow the guess, the value's kind is known: decode it now.
    if (matching) values[decoded++] = tokenValue(line, n, guess!.kinds[n]!, guess!.keys[n]!, execve, warnings);
    n++;
  }
  let shape = matching && n === expect!.length ? guess : undefined;
  // Another recent sequence shares the keys decoded so far (they matched the guess), so their values stand.
  if (!shape && recent) shape = recent.find((s) => s !== guess && spells(s, line, n));
  if (!shape) return fieldsOfNewSequence(line, n, decoded, execve, shapeKey, warnings);
  shapes.use(shapeKey, shape);
  for (let k = decoded; k < n; k++) values[k] = tokenValue(line, k, shape.kinds[k]!, shape.keys[k]!, execve, warnings);
  return shape.build(values);
}

/**
 * The general parser, after the fast one gave up on the line (dropping the warnings it had given).
 * Its dictionary object is rebuilt by the constructor of its key sequence when there is one: AVC
 * and USER_* records repeat their sequences too, and every later reader (rules, the store's JSON)
 * is faster on such an object.
 */
function reparse(line: string, from: number, to: number, execve: boolean, warnings: string[], warned: number): Fields {
  warnings.length = warned;
  const fields = parseFields(line, from, to, execve, warnings);
  const keys = Object.keys(fields);
  const kinds = new Uint8Array(keys.length);
  for (let k = 0; k < keys.length; k++) kinds[k] = kindOf(keys[k]!, execve);
  const shape = shapes.lookup(keys, kinds);
  if (!shape) return fields;
  for (let k = 0; k < keys.length; k++) values[k] = fields[keys[k]!]!;
  return shape.build(values);
}

/** Do the n tokens in `spans` have exactly the keys of `shape`? */
function spells(shape: Shape, line: string, n: number): boolean {
  if (shape.keys.length !== n) return false;
  for (let k = 0; k < n; k++) {
    const key = shape.keys[k]!;
    const start = spans[k * 4]!;
    if (spans[k * 4 + 1]! - start !== key.length || !line.startsWith(key, start)) return false;
  }
  return true;
}

/**
 * Tokens whose key sequence has no constructor yet: a dictionary object, first key wins. The
 * first `decoded` values are in `values` already (their keys are distinct: a prefix of a shape's).
 */
function fieldsOfNewSequence(line: string, n: number, decoded: number, execve: boolean, shapeKey: string, warnings: string[]): Fields {
  // No prototype: a hostile line's `constructor=` or `__proto__=` is just another field.
  const fields: Fields = Object.create(null) as Fields;
  const keys: string[] = [];
  const kinds = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const key = line.slice(spans[k * 4]!, spans[k * 4 + 1]!);
    if (fields[key] !== undefined) continue;
    kinds[keys.length] = kindOf(key, execve);
    fields[key] = k < decoded ? values[k]! : tokenValue(line, k, kinds[keys.length]!, key, execve, warnings);
    keys.push(key);
  }
  // A repeated key makes a line no constructor may build (its later values are dropped).
  if (keys.length === n) {
    const shape = shapes.lookup(keys, kinds);
    if (shape) shapes.use(shapeKey, shape);
  }
  return fields;
}

function kindOf(key: string, execve: boolean): number {
  if (execve) return isArgKey(key) ? ENCODED : isChunkKey(key) ? CHUNK : PLAIN;
  return ENCODED_FIELDS.has(key) ? ENCODED : PLAIN;
}

/** Token k's value: quoted text as written, `(null)` as null, hex decoded where the key's kind says so. */
function tokenValue(line: string, k: number, kind: number, key: string, execve: boolean, warnings: string[]): string | null {
  const value = line.slice(spans[k * 4 + 2]!, spans[k * 4 + 3]!);
  if (quoted[k] === 1) return kind === CHUNK ? `"${value}"` : value;
  if (value === "(null)") return null;
  return kind === ENCODED ? decodeEncoded(key, value, execve, warnings) : value;
}

/**
 * Splits `key=value key2="value two" msg='inner=pairs'` in line[from, to) into fields. Words
 * without `=` (AVC's `avc: denied { read write } for`) are gathered into `seresult`/`seperms` as
 * auparse names them. The first occurrence of a key wins; the kernel never repeats one, so a
 * repeat is hostile or broken. One pass over the line: values are sliced out of it, never copied
 * through an intermediate substring.
 */
function parseFields(line: string, from: number, to: number, execve: boolean, warnings: string[]): Record<string, string | null> {
  // No prototype: a hostile line's `constructor=` or `__proto__=` is just another field.
  const fields: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
  let i = from;
  while (i < to) {
    while (i < to && line.charCodeAt(i) === 32) i++;
    if (i >= to) break;
    let keyEnd = i;
    let c = 0;
    while (keyEnd < to) {
      c = line.charCodeAt(keyEnd);
      if (c === 61 /* = */ || c === 32) break;
      keyEnd++;
    }
    if (keyEnd >= to || c === 32) {
      i = parseBareWord(line, i, keyEnd, to, fields);
      continue;
    }
    const key = line.slice(i, keyEnd);
    const vStart = keyEnd + 1;
    const q = vStart < to ? line.charCodeAt(vStart) : -1;
    if (q === 34 /* " */ || q === 39 /* ' */) {
      let close = line.indexOf(q === 34 ? '"' : "'", vStart + 1);
      if (close >= to) close = -1;
      const vEnd = close < 0 ? to : close;
      if (close < 0) warnings.push(`field ${key}: unterminated quote`);
      i = close < 0 ? to : close + 1;
      if (q === 39 && key === "msg") {
        // USER_* and daemon records carry their real content as msg='k=v …'. Parsed on its own
        // first (its own first-wins and warnings), then added where the outer record has no such key.
        const inner = parseFields(line, vStart + 1, vEnd, execve, warnings);
        for (const k in inner) if (fields[k] === undefined) fields[k] = inner[k] as string | null;
        continue;
      }
      if (key.length === 0 || fields[key] !== undefined) {
        if (key.length === 0) warnings.push("empty field name");
        continue;
      }
      const value = line.slice(vStart + 1, vEnd);
      // A long argument's chunks are joined as bytes later, and a quoted chunk is text, not hex.
      fields[key] = execve && isChunkKey(key) ? `"${value}"` : value;
      continue;
    }
    let vEnd = line.indexOf(" ", vStart);
    if (vEnd < 0 || vEnd > to) vEnd = to;
    // shadow's tools write op= unquoted with spaces ("op=user bob added by root to group libvirt"):
    // the words up to the next key=value are the rest of op, as auparse reads them. (The fast
    // reader leaves such a line here: a bare word after a value.)
    if (key === "op") vEnd = endOfBareWords(line, vEnd, to);
    i = vEnd;
    if (key.length === 0 || fields[key] !== undefined) {
      if (key.length === 0) warnings.push("empty field name");
      continue;
    }
    fields[key] = decodeValue(key, line.slice(vStart, vEnd), execve, warnings);
  }
  return fields;
}

/** The end of the run of words without '=' that follows `end` in line[…, to), or `end` when the next word is key=value. */
function endOfBareWords(line: string, end: number, to: number): number {
  let pos = end;
  for (;;) {
    let start = pos;
    while (start < to && line.charCodeAt(start) === 32) start++;
    let stop = line.indexOf(" ", start);
    if (stop < 0 || stop > to) stop = to;
    if (stop === start) return pos;
    const eq = line.indexOf("=", start);
    if ((eq >= 0 && eq < stop) || (stop - start === 1 && line.charCodeAt(start) === 123 /* { */)) return pos;
    pos = stop;
  }
}

function parseBareWord(line: string, start: number, end: number, to: number, fields: Record<string, string | null>): number {
  if (end - start === 1 && line.charCodeAt(start) === 123 /* { */) {
    let close = line.indexOf("}", end);
    if (close >= to) close = -1;
    const stop = close < 0 ? to : close;
    const perms = line.slice(end, stop).trim().split(/\s+/).filter(Boolean);
    if (fields.seperms === undefined) fields.seperms = perms.join(",");
    return close < 0 ? to : close + 1;
  }
  if (fields.seresult === undefined && (line.startsWith("denied", start) || line.startsWith("granted", start))) {
    const word = line.slice(start, end);
    if (word === "denied" || word === "granted") fields.seresult = word;
  }
  return end;
}

function decodeValue(key: string, value: string, execve: boolean, warnings: string[]): string | null {
  if (value === "(null)") return null;
  // EXECVE: whole arguments (a0, a1, …) are quoted or hex. Chunks of one long argument (a1[0], …)
  // may split a multi-byte character, so they are joined as bytes later (normalize.ts): kept as written.
  if (execve ? !isArgKey(key) : !ENCODED_FIELDS.has(key)) return value;
  return decodeEncoded(key, value, execve, warnings);
}

/** A value of a field the kernel hex-encodes (when it has to): decoded if it is hex. */
function decodeEncoded(key: string, value: string, execve: boolean, warnings: string[]): string {
  if (value === "?" || value === "(none)") return value;
  if (!isHex(value)) {
    // The kernel quotes or hex-encodes EXECVE arguments and proctitle, always; other writers (old
    // tools, test data) leave plain words unquoted, which are fine. Odd-length hex is damage either way.
    if (execve || key === "proctitle" || isOddUpperHex(value)) warnings.push(`field ${key}: unquoted value is not valid hex`);
    return value;
  }
  return decodeHex(value, key);
}

/** `a` and digits: a whole EXECVE argument. */
function isArgKey(key: string): boolean {
  if (key.length < 2 || key.charCodeAt(0) !== 97 /* a */) return false;
  for (let i = 1; i < key.length; i++) if (!isDigit(key.charCodeAt(i))) return false;
  return true;
}

/** `aN[M]`: one chunk of a long EXECVE argument. */
function isChunkKey(key: string): boolean {
  const open = key.indexOf("[");
  if (open < 2 || key.charCodeAt(key.length - 1) !== 93 /* ] */ || !isArgKey(key.slice(0, open))) return false;
  if (key.length - 1 - (open + 1) < 1) return false;
  for (let i = open + 1; i < key.length - 1; i++) if (!isDigit(key.charCodeAt(i))) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Value of a hex digit (either case), or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Whole bytes of hex, at least one. */
function isHex(s: string): boolean {
  if (s.length === 0 || (s.length & 1) !== 0) return false;
  for (let i = 0; i < s.length; i++) if (hexDigit(s.charCodeAt(i)) < 0) return false;
  return true;
}

/** Upper-case hex with an odd number of digits: hex the line lost a digit of. */
function isOddUpperHex(s: string): boolean {
  if ((s.length & 1) === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c) && !(c >= 65 && c <= 70)) return false;
  }
  return true;
}

/** Decoding room for the longest hex value a line within MAX_LINE_LENGTH can hold; reused, never shared out. */
const hexScratch = Buffer.allocUnsafe(MAX_LINE_LENGTH / 2);

/** Hex → text. NULs separate proctitle's arguments and (as 0x01) multiple audit keys: keep them visible as separators. */
export function decodeHex(hex: string, key = ""): string {
  const buf = hex.length / 2 <= hexScratch.length ? hexScratch : Buffer.allocUnsafe(Math.ceil(hex.length / 2));
  let n = buf.write(hex, 0, "hex");
  if (key === "proctitle") {
    // A NUL byte is a character of its own in UTF-8 (never part of a longer sequence), so turning
    // NULs into spaces before decoding gives the same text as after.
    while (n > 0 && buf[n - 1] === 0) n--;
    for (let i = 0; i < n; i++) if (buf[i] === 0) buf[i] = 32;
  }
  return buf.toString("utf8", 0, n);
}
