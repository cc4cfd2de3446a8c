// IPv4/IPv6 addresses and networks as bigint intervals. nft refuses overlapping elements in an
// interval set, so feed entries are collapsed here (overlapping and adjacent ranges merged) before
// they are loaded, and what the kernel lists is turned back into intervals to compare.

import { formatIPv4, formatIPv6 } from "../events/address.js";

export { parseAddress, parseEntry, type Interval, type IpFamily } from "../events/address.js";
import { ADDRESS_BITS as BITS, parseAddress, prefixInterval, type Interval, type IpFamily } from "../events/address.js";

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
