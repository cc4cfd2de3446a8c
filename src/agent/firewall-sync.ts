// What hv's nft tables should hold, from the store: one feed set per enabled feed whose action is
// "block", with its mode and paths, plus the VM tap devices the agent knows. The agent runs
// syncFirewall at start and after each feed sync that changed a set.

import type Database from "better-sqlite3";
import { parseEntry } from "../firewall/addresses.js";
import { reconcile, type ReconcileOptions, type ReconcileResult } from "../firewall/reconcile.js";
import type { FeedSet, FirewallState } from "../firewall/state.js";
import { feedIndicators, listFeeds } from "../store/feeds.js";

export interface DesiredFirewallOptions {
  /** VM tap devices (vnetN) that get an ingress chain when a feed blocks on the taps path. */
  taps?: string[];
}

export interface SkippedEntry {
  feed: string;
  value: string;
  reason: string;
}

export interface DesiredFirewall {
  state: FirewallState;
  /** Stored entries that cannot become set elements (the feed code should never store them). */
  skipped: SkippedEntry[];
}

// The default a block feed gets when its spec has no block section (as `hv feeds add` does).
const DEFAULT_BLOCK: NonNullable<FeedSet["paths"]> = ["input", "forward", "taps"];

export function desiredFirewallState(db: Database.Database, opts: DesiredFirewallOptions = {}): DesiredFirewall {
  const sets: FeedSet[] = [];
  const skipped: SkippedEntry[] = [];
  for (const feed of listFeeds(db)) {
    if (!feed.enabled || feed.action !== "block") continue;
    const set: FeedSet = { name: feed.name, mode: feed.block?.mode ?? "monitor", paths: feed.block?.paths ?? DEFAULT_BLOCK, v4: [], v6: [] };
    for (const ind of feedIndicators(db, feed.name)) {
      if (ind.kind !== "ip" && ind.kind !== "cidr") continue;
      const parsed = parseEntry(ind.value);
      if (!parsed) {
        skipped.push({ feed: feed.name, value: ind.value, reason: "not an address or CIDR" });
        continue;
      }
      // A whole address family in a blocklist would cut the host off; the feed checks refuse it
      // too, this is the last line.
      if (parsed.interval.start === 0n && parsed.interval.end === (parsed.family === "ip" ? 0xffffffffn : (1n << 128n) - 1n)) {
        skipped.push({ feed: feed.name, value: ind.value, reason: "covers every address" });
        continue;
      }
      (parsed.family === "ip" ? set.v4 : set.v6).push(ind.value);
    }
    sets.push(set);
  }
  return { state: { sets, taps: [...(opts.taps ?? [])] }, skipped };
}

export interface FirewallSyncResult extends ReconcileResult {
  skipped: SkippedEntry[];
}

/** Desired state from the store, then reconcile: the one call the agent makes. */
export async function syncFirewall(db: Database.Database, opts: DesiredFirewallOptions & ReconcileOptions = {}): Promise<FirewallSyncResult> {
  const { state, skipped } = desiredFirewallState(db, opts);
  return { ...(await reconcile(state, opts)), skipped };
}

export interface FirewallSyncer {
  /** Reconciles now, or right after the one running (requests meanwhile are merged into one). */
  sync(): Promise<FirewallSyncResult>;
  /** New tap list from the VM inventory; takes effect at the next sync. */
  setTaps(taps: string[]): void;
}

/**
 * One reconcile at a time for the agent: feed syncs, inventory changes and start-up may all ask
 * at once, and two reconciles racing would each rewrite the tables.
 */
export function createFirewallSyncer(db: Database.Database, opts: DesiredFirewallOptions & ReconcileOptions = {}): FirewallSyncer {
  let taps = [...(opts.taps ?? [])];
  let running: Promise<FirewallSyncResult> | undefined;
  let queued: Promise<FirewallSyncResult> | undefined;
  const run = async (): Promise<FirewallSyncResult> => syncFirewall(db, { ...opts, taps });
  return {
    setTaps(next) {
      taps = [...next];
    },
    sync() {
      if (!running) {
        running = run().finally(() => (running = undefined));
        return running;
      }
      // Whatever asked during a run needs a run that starts after it; one such run serves all.
      queued ??= running.catch(() => undefined).then(() => {
        queued = undefined;
        running = run().finally(() => (running = undefined));
        return running;
      });
      return queued;
    },
  };
}
