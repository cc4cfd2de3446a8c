// The canonical text of a block target, so the store's one-active-row-per-target holds however an
// operator spells it ("198.51.100.7/32" and "198.51.100.7" are one block; host bits are cleared).
// The same rules as block_ip's: a fleet order is a block like any other.

import { checkEntry, tooBroadOrSpecial } from "../firewall/block-target.js";

export function canonicalTarget(text: string): { target: string } | { error: string } {
  const entry = checkEntry(text);
  if ("error" in entry) return entry;
  const why = tooBroadOrSpecial(entry);
  return why ? { error: `${why}: not a fleet block` } : { target: entry.text };
}
