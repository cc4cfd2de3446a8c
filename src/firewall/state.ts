// What hv wants in its own nftables tables, as plain data. The builder turns it into nft JSON
// commands; reconcile compares it with what the kernel holds. Everything hv puts in nftables must
// be described here: reconcile replaces hv's tables with exactly this, so anything added to them
// another way (by hand, or by a later feature that is not part of this state) is removed.

export type FeedMode = "monitor" | "enforce";
export type FeedPath = "input" | "forward" | "output" | "taps";
export const FEED_PATHS: readonly FeedPath[] = ["input", "forward", "output", "taps"];

/** One feed's blocklist: an ipv4 and an ipv6 interval set, matched on the chosen paths. */
export interface FeedSet {
  /** The feed's name; set names and rule comments derive from it. */
  name: string;
  /** enforce: `counter drop`; monitor: `counter` only (matches are counted, nothing is dropped). */
  mode: FeedMode;
  paths: FeedPath[];
  /** Addresses and CIDRs ("192.0.2.1", "198.51.100.0/24"); overlaps are allowed, they are collapsed. */
  v4: string[];
  v6: string[];
}

/** A VM cut off the network: every packet of its taps dropped, both ways, except `keep`. */
export interface Quarantine {
  vm: string;
  taps: string[];
  /** Addresses/CIDRs the VM may still talk to (a management or forensics host); ARP/NDP stay open for them. */
  keep: string[];
}

/** Addresses hv blocks as a response (block_ip): dropped on every path, always enforced. */
export interface Blocks {
  v4: string[];
  v6: string[];
}

/** A VM whose taps may carry at most this many bytes per second each way; the excess is dropped. */
export interface RateLimit {
  vm: string;
  taps: string[];
  bytesPerSecond: number;
}

export interface FirewallState {
  sets: FeedSet[];
  /** VM tap devices; each gets an ingress chain in the netdev table when a feed uses the taps path (and when blocks exist). */
  taps: string[];
  /** Absent or empty: none. Built from the store's active enforcements (src/firewall/sync.ts). */
  quarantines?: Quarantine[];
  blocks?: Blocks;
  rateLimits?: RateLimit[];
}

/** The names of hv's two tables (configurable so tests and a second instance never collide). */
export interface TableNames {
  inet: string;
  netdev: string;
}

export const DEFAULT_TABLES: TableNames = { inet: "hv", netdev: "hv" };

/** Where nft runs: this network namespace (`ip netns exec NAME nft …`) or the caller's. */
export interface NftOptions {
  netns?: string;
  tables?: TableNames;
  /** nft binary (default "nft", found on PATH). */
  nft?: string;
}
