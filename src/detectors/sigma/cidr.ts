// IPv4 and IPv6 addresses and networks as bigints, for the `cidr` modifier.

export interface Network {
  v6: boolean;
  base: bigint;
  mask: bigint;
}

export function parseIp(s: string): { v6: boolean; n: bigint } | undefined {
  const t = s.trim().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (t.includes(":")) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) becomes its two hex groups.
    const v4tail = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(t);
    let text = t;
    if (v4tail) {
      const v4 = parseIp(v4tail[2]!);
      if (!v4) return undefined;
      text = v4tail[1]! + (v4.n >> 16n).toString(16) + ":" + (v4.n & 0xffffn).toString(16);
    }
    const halves = text.split("::");
    if (halves.length > 2) return undefined;
    const head = halves[0] ? halves[0].split(":") : [];
    const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
    const missing = 8 - head.length - tail.length;
    if ((halves.length === 2 && missing < 1) || (halves.length === 1 && missing !== 0)) return undefined;
    const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
    let n = 0n;
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      n = (n << 16n) | BigInt(parseInt(g, 16));
    }
    return { v6: true, n };
  }
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
  if (!m) return undefined;
  let n = 0n;
  for (const part of m.slice(1)) {
    const b = Number(part);
    if (b > 255) return undefined;
    n = (n << 8n) | BigInt(b);
  }
  return { v6: false, n };
}

export function parseCidr(s: string): Network | undefined {
  const [addr, bits, extra] = s.split("/");
  if (extra !== undefined) return undefined;
  const ip = parseIp(addr ?? "");
  if (!ip) return undefined;
  const width = ip.v6 ? 128 : 32;
  const len = bits === undefined ? width : Number(bits);
  if (!Number.isInteger(len) || len < 0 || len > width) return undefined;
  const all = (1n << BigInt(width)) - 1n;
  const mask = (all << BigInt(width - len)) & all;
  return { v6: ip.v6, base: ip.n & mask, mask };
}

export function inNetwork(net: Network, value: string): boolean {
  const ip = parseIp(value);
  if (!ip) return false;
  if (ip.v6 !== net.v6) {
    // ::ffff:a.b.c.d is the IPv4 address a.b.c.d.
    if (net.v6 || ip.n >> 32n !== 0xffffn) return false;
    return (ip.n & 0xffffffffn & net.mask) === net.base;
  }
  return (ip.n & net.mask) === net.base;
}
