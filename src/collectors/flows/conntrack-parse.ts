// Parsing of one line of `conntrack -E -o timestamp,extended,id` (conntrack-tools 1.4.x) into its
// parts. Turning the parts into a flow event, and pairing NEW with DESTROY, is conntrack-decode.ts's job.
//
// Line shape (recorded from real conntrack, see test/fixtures/conntrack/):
//   [SEC.USEC]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=… dst=… sport=… dport=… [UNREPLIED]
//     src=… dst=… sport=… dport=… mark=42 zone=7 id=2420389613
//   [SEC.USEC]\t[DESTROY] ipv4 2 udp 17 27 src=… … packets=1 bytes=33 src=… … packets=1 bytes=33
//     [ASSURED] delta-time=3 id=… [USERSPACE] portid=7858 progname=conntrack
// After the header come the original tuple, then the reply tuple (it starts at the second src=),
// each with its counters when nf_conntrack_acct=1, then the entry's own fields. ICMP tuples have
// their own id= (the echo id) before the entry's id=, so a key seen twice in a tuple ends it.

import { isIP } from "node:net";

export type ConntrackEventType = "NEW" | "UPDATE" | "DESTROY";

export interface ConntrackTuple {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** ICMP type, code and echo id. */
  icmp?: { type?: number; code?: number; id?: number };
  packets?: number;
  bytes?: number;
  /** Other tuple keys (GRE srckey/dstkey, …) as written. */
  extra?: Record<string, string>;
}

export interface ConntrackLine {
  /** Milliseconds since the epoch, from [SEC.USEC], with the microseconds as a fraction. */
  timeMs: number;
  /** "SEC.USEC" exactly as written. */
  time: string;
  type: ConntrackEventType;
  /** ipv4 / ipv6, from the line when -o extended was given, otherwise from the address. */
  family: "ipv4" | "ipv6";
  /** conntrack's protocol name: tcp, udp, icmp, icmpv6, sctp, gre, unknown, … */
  protoName: string;
  protoNum: number;
  /** Seconds left before the entry expires. */
  timeout?: number;
  /** Protocol state (TCP: SYN_SENT, ESTABLISHED, TIME_WAIT, CLOSE, …). */
  state?: string;
  orig: ConntrackTuple;
  reply: ConntrackTuple;
  /** Bracketed flags in order: UNREPLIED, ASSURED, OFFLOAD, USERSPACE, … */
  flags: string[];
  /** The entry's id (-o id). */
  id?: string;
  mark?: number;
  zone?: number;
  /** Seconds the entry lived (nf_conntrack_timestamp=1, DESTROY only). */
  deltaTime?: number;
  /** Remaining key=value fields after the tuples (use, secctx, labels, portid, progname, …). */
  extra: Record<string, string>;
}

export type ParseOutcome =
  | { kind: "event"; line: ConntrackLine }
  /** Blank, or something conntrack prints besides events (its closing summary, notices). */
  | { kind: "skip"; note?: "enobufs" }
  | { kind: "malformed"; reason: string };

/** conntrack's "ENOBUFS" warning (stderr; in a log when it was recorded with 2>&1). */
export const ENOBUFS_WARNING = "WARNING: We have hit ENOBUFS!";

/** What conntrack writes that is not an event: the ENOBUFS explanation, notices, the closing summary. */
const CHATTER = [/^WARNING: /, /^This message means that/, /^Please, check --buffer-size/, /^NOTICE: /, /^conntrack v\d/];

const EVENT_TYPES = new Set<string>(["NEW", "UPDATE", "DESTROY"]);
const PORT_PROTOCOLS = new Set(["tcp", "udp", "udplite", "sctp", "dccp"]);
const ICMP_PROTOCOLS = new Set(["icmp", "icmpv6"]);
const NUMBER = /^\d+$/;
/** 9999-12-31T23:59:59Z: a Date cannot be much later, and no clock is. */
const MAX_EPOCH_SECONDS = 253402300799;

export function parseConntrackLine(text: string): ParseOutcome {
  const line = text.trim();
  if (line === "") return { kind: "skip" };
  if (!line.startsWith("[")) {
    if (line.startsWith(ENOBUFS_WARNING)) return { kind: "skip", note: "enobufs" };
    if (CHATTER.some((re) => re.test(line))) return { kind: "skip" };
    return { kind: "malformed", reason: `not a conntrack event line (expected "[SEC.USEC] [NEW|UPDATE|DESTROY] …")` };
  }
  try {
    return { kind: "event", line: parseEvent(line) };
  } catch (err) {
    if (err instanceof FieldError) return { kind: "malformed", reason: err.message };
    throw err;
  }
}

class FieldError extends Error {}

function fail(reason: string): never {
  throw new FieldError(reason);
}

function parseEvent(line: string): ConntrackLine {
  // Splitting on one character is several times faster than on /\s+/; conntrack pads with spaces
  // and puts one tab after the timestamp.
  const tokens = line.replaceAll("\t", " ").split(" ").filter((t) => t !== "");
  let i = 0;
  const first = tokens[i++]!;
  const timeMatch = /^\[(\d+)\.(\d{1,9})\]$/.exec(first);
  if (!timeMatch) fail(first.startsWith("[") && !EVENT_TYPES.has(first.slice(1, -1)) ? `timestamp: expected [SEC.USEC], got "${clip(first)}"` : "timestamp: missing (run conntrack with -o timestamp)");
  const time = `${timeMatch[1]}.${timeMatch[2]}`;
  if (Number(timeMatch[1]) > MAX_EPOCH_SECONDS) fail(`timestamp: ${clip(time)} is past the year 9999`);
  const timeMs = Number(timeMatch[1]) * 1000 + Number(timeMatch[2]!.padEnd(6, "0").slice(0, 6)) / 1000;

  const typeToken = tokens[i++];
  if (typeToken === undefined) fail("event type: missing after the timestamp (truncated line)");
  const typeMatch = /^\[([A-Z]+)\]$/.exec(typeToken);
  if (!typeMatch || !EVENT_TYPES.has(typeMatch[1]!)) fail(`event type: expected [NEW], [UPDATE] or [DESTROY], got "${clip(typeToken)}"`);
  const type = typeMatch[1] as ConntrackEventType;

  // -o extended adds the layer-3 name and number before the protocol.
  let family: "ipv4" | "ipv6" | undefined;
  if (tokens[i] === "ipv4" || tokens[i] === "ipv6") {
    family = tokens[i] as "ipv4" | "ipv6";
    const l3 = tokens[i + 1];
    if (l3 === undefined || !NUMBER.test(l3)) fail(`layer-3 protocol number: expected a number after ${family}, got "${clip(l3 ?? "")}"`);
    i += 2;
  }
  const protoName = tokens[i++];
  if (protoName === undefined || protoName.includes("=")) fail("protocol: missing (truncated line)");
  const protoText = tokens[i++];
  if (protoText === undefined || !NUMBER.test(protoText)) fail(`protocol number: expected a number after ${protoName}, got "${clip(protoText ?? "")}"`);
  const protoNum = Number(protoText);
  if (protoNum > 255) fail(`protocol number: ${protoNum} is over 255`);

  const out: ConntrackLine = { timeMs, time, type, family: family ?? "ipv4", protoName, protoNum, orig: { src: "", dst: "" }, reply: { src: "", dst: "" }, flags: [], extra: {} };
  if (tokens[i] !== undefined && NUMBER.test(tokens[i]!)) out.timeout = Number(tokens[i++]);
  if (tokens[i] !== undefined && /^[A-Z_]+$/.test(tokens[i]!)) out.state = tokens[i++];

  const tupleKeys = tupleKeysOf(protoName);
  let section: "orig" | "reply" | "tail" = "orig";
  let current = new Map<string, string>();
  const orig = current;
  let reply: Map<string, string> | undefined;
  const tail = new Map<string, string>();
  for (; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok.startsWith("[")) {
      const flag = /^\[([A-Z_]+)\]$/.exec(tok);
      if (!flag) fail(`flag: expected [NAME], got "${clip(tok)}"`);
      out.flags.push(flag[1]!);
      continue;
    }
    const eq = tok.indexOf("=");
    if (eq <= 0) fail(`field: expected key=value, got "${clip(tok)}"`);
    const key = tok.slice(0, eq);
    const value = tok.slice(eq + 1);
    if (section === "orig" && key === "src" && current.has("src")) {
      section = "reply";
      reply = current = new Map();
    }
    if (section !== "tail" && tupleKeys(key) && !current.has(key)) {
      current.set(key, value);
      continue;
    }
    section = "tail";
    if (tail.has(key)) fail(`${key}: appears twice after the tuples`);
    tail.set(key, value);
  }

  out.orig = tupleOf(orig, "original", protoName);
  // conntrack always prints both tuples: a line without the second one was cut short.
  if (!reply) fail("reply tuple: missing (truncated line?)");
  out.reply = tupleOf(reply, "reply", protoName);
  const v6 = out.orig.src.includes(":");
  if (family === undefined) out.family = v6 ? "ipv6" : "ipv4";
  else if (v6 !== (family === "ipv6")) fail(`src: ${out.orig.src} is not an ${family} address`);

  for (const [key, value] of tail) {
    switch (key) {
      case "id":
        if (!NUMBER.test(value)) fail(`id: expected a number, got "${clip(value)}"`);
        out.id = value;
        break;
      case "mark":
        out.mark = integer(key, value, 0xffffffff);
        break;
      case "zone":
        out.zone = integer(key, value, 0xffff);
        break;
      case "delta-time":
        out.deltaTime = integer(key, value, Math.floor(timeMs / 1000));
        break;
      default:
        out.extra[key] = value;
    }
  }
  return out;
}

const tupleKeyCache = new Map<string, (key: string) => boolean>();

/** Which keys belong in a tuple of this protocol (anything else starts the entry's own fields). */
function tupleKeysOf(protoName: string): (key: string) => boolean {
  let test = tupleKeyCache.get(protoName);
  if (!test) {
    test = makeTupleKeys(protoName);
    // Protocol names come from input: keep the cache small whatever arrives.
    if (tupleKeyCache.size < 64) tupleKeyCache.set(protoName, test);
  }
  return test;
}

function makeTupleKeys(protoName: string): (key: string) => boolean {
  const l4 = PORT_PROTOCOLS.has(protoName)
    ? ["sport", "dport"]
    : ICMP_PROTOCOLS.has(protoName)
      ? ["type", "code", "id"]
      : protoName === "gre"
        ? ["srckey", "dstkey", "version"]
        : // Unknown to us: the keys conntrack prints for any protocol with ports, never id=.
          ["sport", "dport", "type", "code", "srckey", "dstkey"];
  const keys = new Set(["src", "dst", "packets", "bytes", ...l4]);
  return (key) => keys.has(key);
}

function tupleOf(fields: Map<string, string>, which: "original" | "reply", protoName: string): ConntrackTuple {
  const [src, dst, sport, dport, type, code, id, packets, bytes] = ["src", "dst", "sport", "dport", "type", "code", "id", "packets", "bytes"].map((k) => fields.get(k));
  if (src === undefined) fail(`src: missing in the ${which} tuple (truncated line?)`);
  if (dst === undefined) fail(`dst: missing in the ${which} tuple (truncated line?)`);
  const srcFamily = ipFamily(src);
  const dstFamily = ipFamily(dst);
  if (srcFamily === 0) fail(`src: "${clip(src)}" in the ${which} tuple is not an IP address`);
  if (dstFamily === 0) fail(`dst: "${clip(dst)}" in the ${which} tuple is not an IP address`);
  if (srcFamily !== dstFamily) fail(`dst: ${dst} is not of the same family as src ${src} (${which} tuple)`);
  const t: ConntrackTuple = { src, dst };
  if (PORT_PROTOCOLS.has(protoName) && (sport === undefined || dport === undefined)) {
    fail(`${sport === undefined ? "sport" : "dport"}: missing in the ${which} ${protoName} tuple (truncated line?)`);
  }
  if (sport !== undefined) t.sport = integer("sport", sport, 65535);
  if (dport !== undefined) t.dport = integer("dport", dport, 65535);
  if (type !== undefined || code !== undefined || id !== undefined) {
    t.icmp = {};
    if (type !== undefined) t.icmp.type = integer("type", type, 255);
    if (code !== undefined) t.icmp.code = integer("code", code, 255);
    if (id !== undefined) t.icmp.id = integer("id", id, 65535);
  }
  if (packets !== undefined) t.packets = integer("packets", packets, Number.MAX_SAFE_INTEGER);
  if (bytes !== undefined) t.bytes = integer("bytes", bytes, Number.MAX_SAFE_INTEGER);
  for (const [key, value] of fields) {
    if (!TUPLE_KNOWN.has(key)) (t.extra ??= {})[key] = value;
  }
  return t;
}

const TUPLE_KNOWN = new Set(["src", "dst", "sport", "dport", "type", "code", "id", "packets", "bytes"]);
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** 4, 6 or 0 like net.isIP, with a quick path for the common dotted quad (isIP's regex is slow). */
function ipFamily(ip: string): number {
  const m = IPV4.exec(ip);
  if (m) return Number(m[1]) <= 255 && Number(m[2]) <= 255 && Number(m[3]) <= 255 && Number(m[4]) <= 255 ? 4 : 0;
  return ip.includes(":") ? isIP(ip) : 0;
}

function integer(key: string, value: string, max: number): number {
  if (!NUMBER.test(value)) fail(`${key}: expected a number, got "${clip(value)}"`);
  const n = Number(value);
  if (n > max) fail(`${key}: ${value} is out of range (max ${max})`);
  return n;
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
