// Canonical forms of indicator values, so one address is one store row and one nft element
// whatever way a feed wrote it. Every function returns the canonical value or an error reason.

import { isIPv4 } from "node:net";
import { domainToASCII } from "node:url";
import type { Indicator } from "../events/indicator.js";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "../events/address.js";

export type Canon = { ok: true; indicator: Indicator } | { ok: false; reason: string };

/** A parsed address: family, its bits as a bigint (32 or 128 wide) and a prefix length. */
export interface Net {
  v6: boolean;
  bits: bigint;
  prefix: number;
}

/** Parses "addr" or "addr/len"; host bits are kept (see canonicalNet for what is done with them). */
export function parseNet(text: string): Net | { error: string } {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const v4 = parseIPv4(addr);
  const v6 = v4 === undefined ? parseIPv6(addr) : undefined;
  if (v4 === undefined && v6 === undefined) return { error: "not an IP address or CIDR" };
  const width = v4 !== undefined ? 32 : 128;
  let prefix = width;
  if (slash >= 0) {
    const len = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(len) || Number(len) > width) return { error: `bad prefix length /${len}` };
    prefix = Number(len);
  }
  return { v6: v4 === undefined, bits: (v4 ?? v6)!, prefix };
}

export function hostMask(net: Pick<Net, "v6" | "prefix">): bigint {
  const width = net.v6 ? 128 : 32;
  return (1n << BigInt(width - net.prefix)) - 1n;
}

/** Do the two networks share any address (one contains the other)? */
export function overlaps(a: Net, b: Net): boolean {
  if (a.v6 !== b.v6) return false;
  const shorter = Math.min(a.prefix, b.prefix);
  const mask = hostMask({ v6: a.v6, prefix: shorter });
  return (a.bits & ~mask) === (b.bits & ~mask);
}

export function formatNet(net: Net): string {
  const addr = net.v6 ? formatIPv6(net.bits) : formatIPv4(net.bits);
  return net.prefix === (net.v6 ? 128 : 32) ? addr : `${addr}/${net.prefix}`;
}

/**
 * An IP or CIDR in canonical form. A CIDR with host bits set ("192.0.2.5/24") is fixed by
 * clearing them, as nft and every lookup would treat it anyway; the meta says it was fixed.
 * A full-length prefix ("/32", "/128") becomes a plain address.
 */
export function canonicalNet(text: string): Canon {
  // Fast path for the common case: a dotted quad is already canonical (isIPv4 refuses leading zeros).
  if (isIPv4(text)) return { ok: true, indicator: { value: text, kind: "ip" } };
  const fast = canonicalV4Cidr(text);
  if (fast) return fast;
  const net = parseNet(text.trim());
  if ("error" in net) return { ok: false, reason: net.error };
  const host = net.bits & hostMask(net);
  const fixed: Net = { ...net, bits: net.bits & ~hostMask(net) };
  const value = formatNet(fixed);
  const kind = fixed.prefix === (fixed.v6 ? 128 : 32) ? "ip" : "cidr";
  return { ok: true, indicator: host === 0n ? { value, kind } : { value, kind, meta: { fixed_from: text.trim() } } };
}

/** "a.b.c.d/len" with plain numbers (no bigint): the shape of most blocklists. */
function canonicalV4Cidr(text: string): Canon | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const addr = text.slice(0, slash);
  const len = text.slice(slash + 1);
  if (!isIPv4(addr) || !/^\d{1,2}$/.test(len) || Number(len) > 32) return undefined;
  const prefix = Number(len);
  const parts = addr.split(".").map(Number);
  const n = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  const value = prefix === 32 ? addr : `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${prefix}`;
  const kind = prefix === 32 ? "ip" : "cidr";
  return { ok: true, indicator: net === n ? { value, kind } : { value, kind, meta: { fixed_from: text } } };
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Lower case, no trailing dot, IDN to punycode; at least two labels; letters, digits, "-", "_". */
export function canonicalDomain(text: string): Canon {
  let d = text.trim().toLowerCase();
  if (d.endsWith(".")) d = d.slice(0, -1);
  if (d.startsWith("*.")) d = d.slice(2);
  if (d === "") return { ok: false, reason: "empty domain" };
  if (/[^\x21-\x7e]/.test(d) && !/\s/.test(d)) d = domainToASCII(d);
  if (d === "" || d.length > 253) return { ok: false, reason: "not a valid domain name" };
  const labels = d.split(".");
  if (labels.some((l) => !LABEL.test(l))) return { ok: false, reason: "not a valid domain name" };
  if (labels.length < 2) return { ok: false, reason: "single-label name (a whole TLD or host name)" };
  if (parseIPv4(d) !== undefined) return { ok: false, reason: "an IP address, not a domain" };
  if (d === "localhost" || d.endsWith(".localhost")) return { ok: false, reason: "localhost" };
  return { ok: true, indicator: { value: d, kind: "domain" } };
}

const HASH_LENGTHS: Record<number, string> = { 32: "md5", 40: "sha1", 64: "sha256", 128: "sha512" };

export function canonicalHash(text: string): Canon {
  const h = text.trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(h) || !HASH_LENGTHS[h.length]) return { ok: false, reason: "not an md5/sha1/sha256/sha512 hex hash" };
  return { ok: true, indicator: { value: h, kind: "hash", meta: { hash: HASH_LENGTHS[h.length]! } } };
}

/** A URL as the WHATWG parser serializes it (lower-case scheme and host, punycode); http(s)/ftp only. */
export function canonicalUrl(text: string): Canon {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return { ok: false, reason: "not a valid URL" };
  }
  if (!["http:", "https:", "ftp:"].includes(u.protocol)) return { ok: false, reason: `URL scheme ${u.protocol} not supported` };
  return { ok: true, indicator: { value: u.href, kind: "url" } };
}

/** Whatever the text is: an IP/CIDR, else a URL (has "://"), else a hash, else a domain. */
export function canonicalAny(text: string): Canon {
  const t = text.trim();
  if (/^\d{1,3}(\.\d{1,3}){3}(\/\d+)?$/.test(t) || /^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(\/\d+)?$/.test(t)) return canonicalNet(t);
  if (t.includes("://")) return canonicalUrl(t);
  if (/^[0-9a-fA-F]{32,128}$/.test(t)) return canonicalHash(t);
  return canonicalDomain(t);
}
