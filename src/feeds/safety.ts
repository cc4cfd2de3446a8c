// What a feed may never make hv block or alert on, entry by entry, and when a whole new copy of
// a feed is not trusted to replace the last good one. A poisoned entry is rejected alone (the rest
// of the feed still applies); a broken copy is rejected whole (the last good set stays).

import { networkInterfaces } from "node:os";
import type { Indicator } from "../events/indicator.js";
import { formatNet, overlaps, parseNet, type Net } from "./canonical.js";
import type { ParsedFeed, Rejected } from "./formats/index.js";
import { MAX_REJECT_DETAILS } from "./formats/result.js";

/** IPv4 prefixes shorter than this cover more than 1/256 of the Internet: never a real listing. */
export const MIN_PREFIX_V4 = 8;
/** IPv6: /16 is the size of the largest RIR allocations; anything wider is a mistake or an attack. */
export const MIN_PREFIX_V6 = 16;

const RESERVED: Array<{ net: string; reason: string }> = [
  { net: "0.0.0.0/8", reason: "unspecified (0.0.0.0/8)" },
  { net: "127.0.0.0/8", reason: "loopback" },
  { net: "169.254.0.0/16", reason: "link-local" },
  { net: "224.0.0.0/4", reason: "multicast" },
  { net: "255.255.255.255", reason: "broadcast" },
  { net: "::", reason: "unspecified (::)" },
  { net: "::1", reason: "loopback" },
  { net: "::ffff:127.0.0.0/104", reason: "loopback" },
  { net: "fe80::/10", reason: "link-local" },
  { net: "ff00::/8", reason: "multicast" },
];

function net(text: string): Net {
  const n = parseNet(text);
  if ("error" in n) throw new Error(`${text}: ${n.error}`);
  return n;
}

const RESERVED_NETS = RESERVED.map((r) => ({ net: net(r.net), reason: r.reason }));

/** Every address configured on this host's interfaces. */
export function hostAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.push(a.address.replace(/%.*$/, ""));
  return out;
}

export interface EntryGuard {
  /** Extra addresses that count as the host's own (added to the interfaces' addresses). */
  hostAddresses?: string[];
  /** Also protect every address on this host's interfaces (default true; tests turn it off to be machine-independent). */
  interfaces?: boolean;
  /** CIDRs never accepted (global and per-feed allowlists together). */
  allowlist?: string[];
}

export interface Filtered {
  accepted: Indicator[];
  rejected: Rejected[];
  rejectedCount: number;
  rejectedByReason: Record<string, number>;
}

/** The reason an address entry must not be used, or undefined when it may. */
function unsafeReason(n: Net, host: Array<{ net: Net; text: string }>, allow: Array<{ net: Net; text: string }>): string | undefined {
  if (n.prefix === 0) return n.v6 ? "default route ::/0" : "default route 0.0.0.0/0";
  const min = n.v6 ? MIN_PREFIX_V6 : MIN_PREFIX_V4;
  if (n.prefix < min) return `prefix shorter than /${min}`;
  for (const r of RESERVED_NETS) if (overlaps(n, r.net)) return r.reason;
  for (const h of host) if (overlaps(n, h.net)) return `covers this host's address ${h.text}`;
  for (const a of allow) if (overlaps(n, a.net)) return `allowlisted (${a.text})`;
  return undefined;
}

/** Why one entry must not be used (undefined when it may): what filterUnsafe checks, one entry at a time. */
export type EntryCheck = (indicator: Indicator) => string | undefined;

export function entryCheck(guard: EntryGuard = {}): EntryCheck {
  const own = guard.interfaces === false ? [] : hostAddresses();
  const host = [...new Set([...own, ...(guard.hostAddresses ?? [])])].flatMap((text) => {
    const n = parseNet(text);
    return "error" in n ? [] : [{ net: n, text }];
  });
  const allow = (guard.allowlist ?? []).map((text) => ({ net: net(text), text: formatNet(net(text)) }));
  const v4 = fastV4([...RESERVED_NETS.map((r) => ({ net: r.net, reason: r.reason })), ...host.map((h) => ({ net: h.net, reason: `covers this host's address ${h.text}` })), ...allow.map((a) => ({ net: a.net, reason: `allowlisted (${a.text})` }))]);
  return (ind) => {
    if (ind.kind !== "ip" && ind.kind !== "cidr") return undefined;
    const quick = v4(ind.value);
    if (quick !== false) return quick;
    const n = parseNet(ind.value);
    return "error" in n ? n.error : unsafeReason(n, host, allow);
  };
}

/**
 * The same checks for a plain IPv4 address or CIDR with 32-bit numbers instead of bigints (feeds
 * are mostly that, millions of entries); false when the entry is not of that shape. The nets are
 * checked in unsafeReason's order, so both give the same reason.
 */
function fastV4(nets: Array<{ net: Net; reason: string }>): (value: string) => string | undefined | false {
  const list = nets.filter((n) => !n.net.v6).map((n) => ({ prefix: n.net.prefix, base: Number(n.net.bits), reason: n.reason }));
  const mask = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
  return (value) => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(value);
    if (!m) return false;
    const parts = [m[1]!, m[2]!, m[3]!, m[4]!];
    // Leading zeros are not an address parseNet accepts: left to it, for the same answer.
    if (parts.some((p) => p.length > 1 && p.startsWith("0"))) return false;
    const octets = parts.map(Number);
    if (octets.some((o) => o > 255)) return false;
    const prefix = m[5] === undefined ? 32 : Number(m[5]);
    if (prefix > 32) return false;
    if (prefix === 0) return "default route 0.0.0.0/0";
    if (prefix < MIN_PREFIX_V4) return `prefix shorter than /${MIN_PREFIX_V4}`;
    const n = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
    for (const r of list) {
      const k = mask(Math.min(prefix, r.prefix));
      if (((n & k) >>> 0) === ((r.base & k) >>> 0)) return r.reason;
    }
    return undefined;
  };
}

/** Rejects, one by one, the entries that would block or flag the host itself or whole ranges. */
export function filterUnsafe(indicators: Indicator[], guard: EntryGuard = {}): Filtered {
  const check = entryCheck(guard);
  const out: Filtered = { accepted: [], rejected: [], rejectedCount: 0, rejectedByReason: {} };
  for (const ind of indicators) {
    const reason = check(ind);
    if (reason === undefined) {
      out.accepted.push(ind);
      continue;
    }
    out.rejectedCount++;
    out.rejectedByReason[reason] = (out.rejectedByReason[reason] ?? 0) + 1;
    if (out.rejected.length < MAX_REJECT_DETAILS) out.rejected.push({ value: ind.value, reason });
  }
  return out;
}

export interface SetCheck {
  /** Entries in the last good set (undefined: no good set yet). */
  lastGood?: number;
  minKeepRatio: number;
}

/** Rejects beyond this share of all entries mean the feed is not what it should be. */
export const MAX_REJECT_SHARE = 0.5;

/**
 * Why a parsed and filtered copy must not replace the last good set, or undefined when it may.
 * Rejects of the entry filter (host, allowlist, reserved) are not counted here: a feed that lists
 * the host once is still a good feed, minus that entry.
 */
export function rejectCopy(parsed: ParsedFeed, accepted: number, check: SetCheck): string | undefined {
  if (parsed.truncated) return `truncated: ${parsed.truncated}`;
  const total = parsed.entries + parsed.rejectedCount;
  if (total > 0 && parsed.rejectedCount / total > MAX_REJECT_SHARE) {
    const top = Object.entries(parsed.rejectedByReason).sort((a, b) => b[1] - a[1])[0];
    return `${parsed.rejectedCount} of ${total} entries rejected (most: ${top?.[0]})`;
  }
  if (accepted === 0) return "no usable entries";
  if (check.lastGood !== undefined && check.lastGood > 0 && accepted < check.lastGood * check.minKeepRatio) {
    return `only ${accepted} entries where the last good copy had ${check.lastGood} (below ${Math.round(check.minKeepRatio * 100)}%; sync with --force to accept)`;
  }
  return undefined;
}
