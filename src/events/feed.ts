// A threat feed as hv keeps it (`hv feeds add`): the feeds stage validates and syncs it, the store
// keeps it, the firewall builds block sets from it, the API shows it.

export type FeedFormat = "plain" | "spamhaus-drop" | "spamhaus-json" | "feodo-csv" | "netset" | "domains" | "misp" | "stix";

export const FEED_FORMATS: readonly FeedFormat[] = ["plain", "spamhaus-drop", "spamhaus-json", "feodo-csv", "netset", "domains", "misp", "stix"];

export type BlockPath = "input" | "forward" | "output" | "taps";

export const FEED_SEVERITIES = ["low", "medium", "high", "critical"] as const;

export interface FeedSpec {
  name: string;
  /** An http(s):// URL or a local path (a file, or a MISP feed directory). */
  url: string;
  format: FeedFormat | "auto";
  /** How often the agent syncs it ("30m", "6h", "1d"); none: only `hv feeds sync`. */
  schedule?: string;
  enabled: boolean;
  /** block: its addresses also go into nft sets. */
  action: "alert" | "block";
  block?: { mode: "monitor" | "enforce"; paths: BlockPath[] };
  severity?: "low" | "medium" | "high" | "critical";
  maxBytes?: number;
  timeoutMs?: number;
  /** Refuse a new set smaller than this fraction of the last good one (default 0.5). */
  minKeepRatio?: number;
  /** CIDRs never accepted from this feed, on top of the global ones. */
  allowlist?: string[];
}
