// SOCKADDR's saddr= is the raw struct sockaddr in hex. The family is in host byte order (so a
// big-endian host writes 0002 where x86 writes 0200); ports and IPv4/IPv6 addresses are in
// network byte order.

import { formatIPv6Groups } from "../../../src/events/address.js";

export interface Sockaddr {
  family: string;
  ip?: string;
  port?: number;
  path?: string;
}

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;

export function decodeSockaddr(hex: string): Sockaddr | undefined {
  if (!/^(?:[0-9A-Fa-f]{2})+$/.test(hex) || hex.length < 4) return undefined;
  const b = Buffer.from(hex, "hex");
  const le = b.readUInt16LE(0);
  const be = b.readUInt16BE(0);
  const family = [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK].includes(le) ? le : be;
  switch (family) {
    case AF_INET:
      if (b.length < 8) return { family: "ipv4" };
      return { family: "ipv4", port: b.readUInt16BE(2), ip: `${b[4]}.${b[5]}.${b[6]}.${b[7]}` };
    case AF_INET6:
      if (b.length < 24) return { family: "ipv6" };
      return { family: "ipv6", port: b.readUInt16BE(2), ip: formatIPv6(b.subarray(8, 24)) };
    case AF_UNIX: {
      const raw = b.subarray(2);
      // A leading NUL marks Linux's abstract namespace; show it as @name like ss does.
      if (raw.length > 0 && raw[0] === 0) return { family: "unix", path: "@" + raw.subarray(1).toString("utf8").replace(/\u0000+$/, "") };
      const end = raw.indexOf(0);
      return { family: "unix", path: raw.subarray(0, end < 0 ? raw.length : end).toString("utf8") };
    }
    case AF_NETLINK:
      return { family: "netlink" };
    default:
      return { family: `af_${family}` };
  }
}

function formatIPv6(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  return formatIPv6Groups(groups);
}
