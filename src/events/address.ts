// The text form addresses have in events, feeds and nft sets, so the same address is always the
// same string wherever it came from (a packet, a feed, the kernel's ruleset). Addresses as bigints
// (32 or 128 bits wide) are what feeds and the firewall compute prefixes and intervals with.

import { isIPv4, isIPv6 } from "node:net";

/** RFC 5952: eight 16-bit groups → lower case, no leading zeros, the first longest run (two or more) of zero groups as "::". */
export function formatIPv6Groups(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

export function parseIPv4(text: string): bigint | undefined {
  if (!isIPv4(text)) return undefined;
  let n = 0n;
  for (const part of text.split(".")) n = (n << 8n) | BigInt(Number(part));
  return n;
}

/** An IPv6 address (compressed, or with an IPv4 tail); a zone id ("%eth0") is refused. */
export function parseIPv6(text: string): bigint | undefined {
  if (text.includes("%") || !isIPv6(text)) return undefined;
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tailV4 = parseIPv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const [left, right] = head.includes("::") ? (head.split("::") as [string, string]) : [head, undefined];
  const l = left === "" ? [] : left.split(":");
  const r = right === undefined || right === "" ? [] : right.split(":");
  const groups = right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill("0"), ...r];
  if (groups.length !== 8) return undefined;
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g, 16));
  if (tailV4 !== undefined) n = (n & ~0xffffffffn) | tailV4;
  return n;
}

export function formatIPv4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join(".");
}

/** RFC 5952 text of a 128-bit address. */
export function formatIPv6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  return formatIPv6Groups(groups);
}

// Networks as inclusive bigint intervals: what the firewall loads into sets and the allowlist
// compares against.

export type IpFamily = "ip" | "ip6";

export interface Interval {
  start: bigint;
  end: bigint; // inclusive
}

export const ADDRESS_BITS: Record<IpFamily, number> = { ip: 32, ip6: 128 };

export function parseAddress(text: string): { family: IpFamily; n: bigint } | undefined {
  const t = text.trim();
  if (t.includes(":")) {
    const n = parseIPv6(t);
    return n === undefined ? undefined : { family: "ip6", n };
  }
  const n = parseIPv4(t);
  return n === undefined ? undefined : { family: "ip", n };
}

/** Parses "192.0.2.1", "198.51.100.0/24" or "2001:db8::/32" (host bits may be set; they are cleared). */
export function parseEntry(text: string): { family: IpFamily; interval: Interval } | undefined {
  const slash = text.indexOf("/");
  const addr = parseAddress(slash === -1 ? text : text.slice(0, slash));
  if (!addr) return undefined;
  const bits = ADDRESS_BITS[addr.family];
  let len = bits;
  if (slash !== -1) {
    const l = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(l) || Number(l) > bits) return undefined;
    len = Number(l);
  }
  return { family: addr.family, interval: prefixInterval(addr.n, len, bits) };
}

export function prefixInterval(n: bigint, len: number, bits: number): Interval {
  const host = (1n << BigInt(bits - len)) - 1n;
  const start = n & ~host & ((1n << BigInt(bits)) - 1n);
  return { start, end: start | host };
}
