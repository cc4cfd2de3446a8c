// Addresses and CIDRs as block_ip, quarantine_vm's `keep` and fleet-wide blocks take them: one
// canonical text per network (so the store's one-active-row-per-target holds however a playbook
// spells it), and the checks that keep a response from covering too much.

import type { IpFamily } from "../events/address.js";
import { canonicalNet, overlaps, parseNet, type Net } from "../feeds/canonical.js";

export interface CheckedEntry {
  /** "192.0.2.7", "198.51.100.0/24", "2001:db8::/48": host bits cleared, RFC 5952 for IPv6. */
  text: string;
  family: IpFamily;
  prefix: number;
  net: Net;
}

/** Parses an address or CIDR into the feeds' canonical text, or says what is wrong with it. */
export function checkEntry(text: string): CheckedEntry | { error: string } {
  const canon = canonicalNet(text.trim());
  if (!canon.ok) return { error: `"${text}" is not an address or CIDR` };
  const net = parseNet(canon.indicator.value);
  if ("error" in net) return { error: `"${text}" is not an address or CIDR` };
  return { text: canon.indicator.value, family: net.v6 ? "ip6" : "ip", prefix: net.prefix, net };
}

/** The shortest prefix hv blocks or keeps open: a /7 of IPv4 is 1/128 of the internet. */
export const MIN_PREFIX: Record<IpFamily, number> = { ip: 8, ip6: 32 };

/** Why blocking this entry could cut the host off from itself or from everything, or undefined. */
export function tooBroadOrSpecial(e: CheckedEntry): string | undefined {
  if (e.prefix === 0) return `${e.text} is a whole address family`;
  if (e.prefix < MIN_PREFIX[e.family]) return `${e.text} is wider than /${MIN_PREFIX[e.family]} (the widest prefix hv acts on for ${e.family === "ip" ? "IPv4" : "IPv6"})`;
  const special = SPECIAL.find((x) => overlaps(e.net, x.net));
  return special && `${e.text} overlaps ${special.text} (${special.what})`;
}

// Addresses the host itself depends on whatever the network: loopback, "this host", link-local
// (DHCP, neighbour discovery, metadata services).
const SPECIAL = (
  [
    ["0.0.0.0/8", "this network"],
    ["127.0.0.0/8", "loopback"],
    ["169.254.0.0/16", "link-local"],
    ["255.255.255.255", "broadcast"],
    ["::/128", "unspecified"],
    ["::1", "loopback"],
    ["fe80::/10", "link-local"],
  ] as const
).map(([text, what]) => ({ text, what, net: parseNet(text) as Net }));
