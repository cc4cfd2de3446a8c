// Address and prefix parsing for the intel index, without BigInt: an IPv4 address is one unsigned
// 32-bit number, an IPv6 address four of them (most significant first). These run once per
// lookup, so they walk the characters instead of splitting strings.

/** A parsed prefix: IPv4 when `v6` is false (only `words[0]` is used), host bits cleared. */
export interface Prefix {
  v6: boolean;
  words: [number, number, number, number];
  len: number;
}

/** An IPv4 address ("198.51.100.7") as an unsigned 32-bit number, or -1 when it is not one. */
export function parseV4(s: string, from = 0, to = s.length): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // A leading zero makes "010" ambiguous (octal to some parsers): refuse it.
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/**
 * An IPv6 address into `out` (four words); false when it is not one. Accepts "::" compression,
 * an embedded IPv4 tail ("::ffff:192.0.2.1") and a zone ("fe80::1%eth0", ignored).
 */
export function parseV6(s: string, out: Uint32Array | number[]): boolean {
  let end = s.indexOf("%");
  if (end === -1) end = s.length;
  const groups = GROUPS;
  let n = 0;
  let gap = -1;
  let i = 0;
  if (end >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
    if (end === 2) return fill(groups, 0, gap, out);
  } else if (s.charCodeAt(0) === 58) return false;
  while (i < end) {
    let value = 0;
    let digits = 0;
    let j = i;
    for (; j < end; j++) {
      const c = s.charCodeAt(j);
      const h = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
    }
    if (j < end && s.charCodeAt(j) === 46) {
      // The last 32 bits written as IPv4.
      const v4 = parseV4(s, i, end);
      if (v4 < 0 || n > 6) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0 || digits > 4 || n >= 8) return false;
    groups[n++] = value;
    if (j === end) {
      i = end;
      break;
    }
    if (s.charCodeAt(j) !== 58) return false;
    if (j + 1 < end && s.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i = j + 2;
    } else {
      if (j + 1 === end) return false;
      i = j + 1;
    }
  }
  return fill(groups, n, gap, out);
}

const GROUPS = new Array<number>(8).fill(0);

function fill(groups: number[], n: number, gap: number, out: Uint32Array | number[]): boolean {
  if (gap < 0 ? n !== 8 : n > 7) return false;
  const zeros = 8 - n;
  let k = 0;
  for (let w = 0; w < 4; w++) {
    const hi = groupAt(groups, n, gap, zeros, k++);
    const lo = groupAt(groups, n, gap, zeros, k++);
    out[w] = (hi * 65536 + lo) >>> 0;
  }
  return true;
}

/** Group `k` (0..7) of the expanded address. */
function groupAt(groups: number[], n: number, gap: number, zeros: number, k: number): number {
  if (gap < 0) return groups[k]!;
  if (k < gap) return groups[k]!;
  if (k < gap + zeros) return 0;
  return k - zeros < n ? groups[k - zeros]! : 0;
}

/**
 * "192.0.2.1", "198.51.100.0/24", "2001:db8::/32", "2001:db8::1": the prefix with host bits
 * cleared, or a reason why not.
 */
export function parsePrefix(text: string): Prefix | string {
  const s = text.trim();
  const slash = s.indexOf("/");
  const addr = slash === -1 ? s : s.slice(0, slash);
  const words: [number, number, number, number] = [0, 0, 0, 0];
  let v6: boolean;
  const v4 = parseV4(addr);
  if (v4 >= 0) {
    words[0] = v4;
    v6 = false;
  } else if (addr.includes(":") && parseV6(addr, words)) v6 = true;
  else return `not an IPv4 or IPv6 address: "${addr}"`;
  const width = v6 ? 128 : 32;
  let len = width;
  if (slash !== -1) {
    const bits = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > width) return `bad prefix length "/${bits}" (0..${width})`;
    len = Number(bits);
  }
  clearHostBits(words, len);
  return { v6, words, len };
}

/** Clears the bits after the first `len` of a four-word address (IPv4 uses word 0 only). */
export function clearHostBits(words: number[], len: number): void {
  for (let w = 0; w < 4; w++) words[w] = (words[w]! & wordMask(len - 32 * w)) >>> 0;
}

/** The mask of a word whose first `bits` bits (clamped to 0..32) belong to the prefix. */
export function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

export function formatV4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
