// IPv4/IPv6 addresses and networks as bigint intervals. nft refuses overlapping elements in an
// interval set, so feed entries are collapsed here (overlapping and adjacent ranges merged) before
// they are loaded, and what the kernel lists is turned back into intervals to compare.

import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "../events/address.js";

export type IpFamily = "ip" | "ip6";

export interface Interval {
  start: bigint;
  end: bigint; // inclusive
}

const BITS: Record<IpFamily, number> = { ip: 32, ip6: 128 };

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
  const bits = BITS[addr.family];
  let len = bits;
  if (slash !== -1) {
    const l = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(l) || Number(l) > bits) return undefined;
    len = Number(l);
  }
  return { family: addr.family, interval: prefixInterval(addr.n, len, bits) };
}

function prefixInterval(n: bigint, len: number, bits: number): Interval {
  const host = (1n << BigInt(bits - len)) - 1n;
  const start = n & ~host & ((1n << BigInt(bits)) - 1n);
  return { start, end: start | host };
}

/** Sorted, non-overlapping, non-adjacent intervals covering exactly the addresses of the input. */
export function collapse(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last && iv.start <= last.end + 1n) {
      if (iv.end > last.end) last.end = iv.end;
    } else {
      out.push({ start: iv.start, end: iv.end });
    }
  }
  return out;
}

export function formatAddress(n: bigint, family: IpFamily): string {
  return family === "ip" ? formatIPv4(n) : formatIPv6(n);
}

/** An nft set element: a single address, a prefix when the interval is one, else a range. */
export type NftElement = string | { prefix: { addr: string; len: number } } | { range: [string, string] };

export function intervalToElement(iv: Interval, family: IpFamily): NftElement {
  const bits = BITS[family];
  if (iv.start === iv.end) return formatAddress(iv.start, family);
  const size = iv.end - iv.start + 1n;
  // A power-of-two block aligned on its size is a prefix.
  if ((size & (size - 1n)) === 0n && (iv.start & (size - 1n)) === 0n) {
    const len = bits - (size.toString(2).length - 1);
    return { prefix: { addr: formatAddress(iv.start, family), len } };
  }
  return { range: [formatAddress(iv.start, family), formatAddress(iv.end, family)] };
}

/** The interval an element listed by `nft -j` stands for (undefined for shapes hv never writes). */
export function elementToInterval(el: unknown, family: IpFamily): Interval | undefined {
  const bits = BITS[family];
  if (typeof el === "string") {
    const a = parseAddress(el);
    return a && a.family === family ? { start: a.n, end: a.n } : undefined;
  }
  if (!el || typeof el !== "object") return undefined;
  const o = el as Record<string, unknown>;
  // Elements with their own options (timeout, comment, counter) are wrapped in {"elem": {"val": …}}.
  if (o.elem && typeof o.elem === "object") return elementToInterval((o.elem as Record<string, unknown>).val, family);
  if (o.prefix && typeof o.prefix === "object") {
    const p = o.prefix as { addr?: unknown; len?: unknown };
    const a = typeof p.addr === "string" ? parseAddress(p.addr) : undefined;
    if (!a || a.family !== family || typeof p.len !== "number") return undefined;
    return prefixInterval(a.n, p.len, bits);
  }
  if (Array.isArray(o.range) && o.range.length === 2) {
    const [s, e] = o.range.map((x) => (typeof x === "string" ? parseAddress(x) : undefined));
    if (!s || !e || s.family !== family || e.family !== family) return undefined;
    return { start: s.n, end: e.n };
  }
  return undefined;
}

/** A compact, comparable text for a list of intervals. */
export function intervalsKey(intervals: Interval[]): string {
  return intervals.map((iv) => `${iv.start.toString(16)}-${iv.end.toString(16)}`).join(",");
}

export function addressCount(intervals: Interval[]): bigint {
  return intervals.reduce((sum, iv) => sum + (iv.end - iv.start + 1n), 0n);
}
