// The canonical text of a block target, so the store's one-active-row-per-target holds however an
// operator spells it ("198.51.100.7/32" and "198.51.100.7" are one block; host bits are cleared).

import { ADDRESS_BITS, formatIPv4, formatIPv6, parseEntry } from "../events/address.js";

/** The widest networks a fleet block may cover: a typo must not cut every host off from half the internet. */
export const MIN_BLOCK_PREFIX = { ip: 8, ip6: 32 } as const;

export function canonicalTarget(text: string): { target: string } | { error: string } {
  const t = text.trim();
  const parsed = parseEntry(t);
  if (!parsed) return { error: `"${text}" is not an IP address or CIDR` };
  const bits = ADDRESS_BITS[parsed.family];
  const slash = t.indexOf("/");
  const prefix = slash === -1 ? bits : Number(t.slice(slash + 1));
  if (prefix < MIN_BLOCK_PREFIX[parsed.family]) return { error: `${t} is wider than /${MIN_BLOCK_PREFIX[parsed.family]}: too broad for a fleet block` };
  const addr = parsed.family === "ip" ? formatIPv4(parsed.interval.start) : formatIPv6(parsed.interval.start);
  return { target: prefix === bits ? addr : `${addr}/${prefix}` };
}
