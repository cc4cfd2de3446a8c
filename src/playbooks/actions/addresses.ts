// Addresses and CIDRs as block_ip and quarantine_vm's `keep` take them: one canonical text per
// network (so the store's one-active-row-per-target holds however a playbook spells it), and
// the checks that keep a response from covering too much.

import { ADDRESS_BITS, formatIPv4, formatIPv6, parseAddress, parseEntry, type IpFamily } from "../../events/address.js";

export interface CheckedEntry {
  /** "192.0.2.7", "198.51.100.0/24", "2001:db8::/48": host bits cleared, RFC 5952 for IPv6. */
  text: string;
  family: IpFamily;
  prefix: number;
}

/** Parses an address or CIDR into its canonical text, or says what is wrong with it. */
export function checkEntry(text: string): CheckedEntry | { error: string } {
  const t = text.trim();
  const parsed = parseEntry(t);
  if (!parsed) return { error: `"${text}" is not an address or CIDR` };
  const bits = ADDRESS_BITS[parsed.family];
  const slash = t.indexOf("/");
  const prefix = slash === -1 ? bits : Number(t.slice(slash + 1));
  const addr = parsed.family === "ip" ? formatIPv4(parsed.interval.start) : formatIPv6(parsed.interval.start);
  return { text: prefix === bits ? addr : `${addr}/${prefix}`, family: parsed.family, prefix };
}

/** The shortest prefix hv blocks or keeps open: a /7 of IPv4 is 1/128 of the internet. */
export const MIN_PREFIX: Record<IpFamily, number> = { ip: 8, ip6: 32 };

/** Why blocking this entry could cut the host off from itself or from everything, or undefined. */
export function tooBroadOrSpecial(e: CheckedEntry): string | undefined {
  if (e.prefix === 0) return `${e.text} is a whole address family`;
  if (e.prefix < MIN_PREFIX[e.family]) return `${e.text} is wider than /${MIN_PREFIX[e.family]} (the widest prefix hv acts on for ${e.family === "ip" ? "IPv4" : "IPv6"})`;
  for (const [net, what] of SPECIAL) if (overlaps(e.text, net)) return `${e.text} overlaps ${net} (${what})`;
  return undefined;
}

// Addresses the host itself depends on whatever the network: loopback, "this host", link-local
// (DHCP, neighbour discovery, metadata services).
const SPECIAL: Array<[string, string]> = [
  ["0.0.0.0/8", "this network"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["255.255.255.255", "broadcast"],
  ["::/128", "unspecified"],
  ["::1", "loopback"],
  ["fe80::/10", "link-local"],
];

function overlaps(a: string, b: string): boolean {
  const x = parseEntry(a);
  const y = parseEntry(b);
  return !!x && !!y && x.family === y.family && x.interval.start <= y.interval.end && y.interval.start <= x.interval.end;
}

export function isAddressOrCidr(text: string): boolean {
  return parseEntry(text.trim()) !== undefined;
}

export function isAddress(text: string): boolean {
  return parseAddress(text) !== undefined;
}
