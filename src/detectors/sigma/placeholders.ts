// Values hv gives Sigma's `expand` placeholders (%name%) from the host it runs on, so a rule can
// name host facts that differ from host to host. Configured values (CompileOptions.placeholders)
// win over these.
//
//   %dns_resolvers%   the nameservers of /etc/resolv.conf (what every glibc lookup sends to)

import { readFileSync } from "node:fs";
import { formatIPv6, parseIPv6 } from "../../events/address.js";

export const RESOLV_CONF = "/etc/resolv.conf";

/** The placeholders hv knows, read now (an unreadable resolv.conf gives no resolvers). */
export function hostPlaceholders(resolvConf = RESOLV_CONF): Record<string, string[]> {
  let text = "";
  try {
    text = readFileSync(resolvConf, "utf8");
  } catch {
    // no resolv.conf: glibc then asks 127.0.0.1, which rules treat as local anyway
  }
  return { dns_resolvers: nameserversOf(text) };
}

/** `nameserver ADDRESS` lines, in the text form events carry (IPv6 per RFC 5952, zone id dropped). */
export function nameserversOf(resolvConf: string): string[] {
  const out: string[] = [];
  for (const line of resolvConf.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const addr = m[1]!.replace(/%.*$/, "");
    const v6 = addr.includes(":") ? parseIPv6(addr) : undefined;
    out.push(v6 !== undefined ? formatIPv6(v6) : addr);
  }
  return [...new Set(out)];
}
