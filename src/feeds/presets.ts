// Well-known public feeds `hv feeds add --preset NAME` can add without looking up URLs and
// formats. All alert-only by default: blocking a public list is a decision for the operator.

import type { FeedSpec } from "../events/feed.js";

export interface FeedPreset {
  name: string;
  about: string;
  spec: Omit<FeedSpec, "name" | "enabled" | "action">;
}

export const FEED_PRESETS: readonly FeedPreset[] = [
  {
    name: "feodo",
    about: "abuse.ch Feodo Tracker botnet C2 IPs (recommended list)",
    spec: { url: "https://feodotracker.abuse.ch/downloads/ipblocklist_recommended.txt", format: "plain", schedule: "1h", severity: "high" },
  },
  {
    name: "spamhaus-drop",
    about: "Spamhaus DROP: hijacked / criminal IPv4 netblocks (JSON lines)",
    spec: { url: "https://www.spamhaus.org/drop/drop_v4.json", format: "spamhaus-json", schedule: "12h", severity: "high" },
  },
  {
    name: "spamhaus-dropv6",
    about: "Spamhaus DROPv6: the IPv6 DROP list (JSON lines)",
    spec: { url: "https://www.spamhaus.org/drop/drop_v6.json", format: "spamhaus-json", schedule: "12h", severity: "high" },
  },
  {
    name: "firehol-level1",
    about: "FireHOL level 1: attacks and bogons (includes private ranges: never block it on hosts using them)",
    spec: { url: "https://raw.githubusercontent.com/firehol/blocklist-ipsets/master/firehol_level1.netset", format: "netset", schedule: "6h", severity: "medium" },
  },
  {
    name: "tor-exits",
    about: "Tor Project bulk exit-node list",
    spec: { url: "https://check.torproject.org/torbulkexitlist", format: "plain", schedule: "6h", severity: "low", minKeepRatio: 0.3 },
  },
  {
    name: "et-compromised",
    about: "Emerging Threats compromised IPs",
    spec: { url: "https://rules.emergingthreats.net/blockrules/compromised-ips.txt", format: "plain", schedule: "6h", severity: "medium" },
  },
];

export function findPreset(name: string): FeedPreset | undefined {
  return FEED_PRESETS.find((p) => p.name === name);
}
