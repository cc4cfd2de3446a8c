// What hv's nft tables should hold, from the store: one feed set per enabled feed whose action is
// "block", with its mode and paths, plus the VM tap devices the agent knows, plus everything the
// store holds in force (enforcements: quarantines, blocked addresses, rate limits). The agent runs
// syncFirewall at start, after each feed sync that changed a set, and after every response action.

import type Database from "better-sqlite3";
import type { Allowlist } from "../events/allowlist.js";
import { parseEntry } from "./addresses.js";
import { DEV_NAME } from "./build.js";
import { reconcile, type ReconcileOptions, type ReconcileResult } from "./reconcile.js";
import { VM_NAME } from "./response.js";
import type { FeedSet, FirewallState, Quarantine, RateLimit } from "./state.js";
import { activeEnforcements, type Enforcement, type EnforcementKind } from "../store/enforcements.js";
import { feedIndicators, listFeeds } from "../store/feeds.js";

export interface DesiredFirewallOptions {
  /** VM tap devices (vnetN) that get an ingress chain when a feed blocks on the taps path, or addresses are blocked. */
  taps?: string[];
  /**
   * The taps a VM has now (the agent's live inventory); undefined when it does not know the VM,
   * then the taps stored with the enforcement (detail.taps) are used.
   */
  vmTaps?: (vm: string) => string[] | undefined;
  /**
   * What hv must never act against. Allowlisted VMs and addresses are left out of the tables
   * (into `skipped`) even when the store says otherwise: the last line of defence behind the
   * playbook engine's own check.
   */
  allowlist?: Allowlist;
  /** Feed sets kept between calls, rebuilt only when a feed's stored version or settings change. */
  feedCache?: FeedSetCache;
}

/** Feed name → its set as last built, and what identifies the stored feed it was built from. */
export type FeedSetCache = Map<string, { key: string; set: FeedSet; skipped: SkippedEntry[] }>;

export interface SkippedEntry {
  /** The feed of a skipped feed entry. */
  feed?: string;
  /** The enforcement a skipped target or detail belongs to. */
  enforcement?: { id: number; kind: EnforcementKind; target: string };
  value: string;
  reason: string;
}

export interface DesiredFirewall {
  state: FirewallState;
  /** Stored entries that cannot become set elements or rules, or are allowlisted. */
  skipped: SkippedEntry[];
}

// The default a block feed gets when its spec has no block section (as `hv feeds add` does).
const DEFAULT_BLOCK: NonNullable<FeedSet["paths"]> = ["input", "forward", "taps"];

export function desiredFirewallState(db: Database.Database, opts: DesiredFirewallOptions = {}): DesiredFirewall {
  const sets: FeedSet[] = [];
  const skipped: SkippedEntry[] = [];
  const present = new Set<string>();
  for (const feed of listFeeds(db)) {
    if (!feed.enabled || feed.action !== "block") continue;
    const mode = feed.block?.mode ?? "monitor";
    const paths = feed.block?.paths ?? DEFAULT_BLOCK;
    // The version grows whenever the stored set changes (src/store/feeds.ts applyFeedSet); `added`
    // tells a feed removed and added again under the same name from the one cached.
    const key = `${feed.added}|${feed.version}|${mode}|${paths.join(",")}`;
    present.add(feed.name);
    let built = opts.feedCache?.get(feed.name);
    if (built?.key !== key) {
      built = { key, ...feedSet(db, feed.name, mode, paths) };
      opts.feedCache?.set(feed.name, built);
    }
    sets.push(built.set);
    skipped.push(...built.skipped);
  }
  for (const name of opts.feedCache?.keys() ?? []) if (!present.has(name)) opts.feedCache!.delete(name);
  const state: FirewallState = { sets, taps: [...(opts.taps ?? [])] };
  addEnforcements(state, activeEnforcements(db), opts, skipped);
  return { state, skipped };
}

function feedSet(db: Database.Database, name: string, mode: FeedSet["mode"], paths: FeedSet["paths"]): { set: FeedSet; skipped: SkippedEntry[] } {
  const set: FeedSet = { name, mode, paths, v4: [], v6: [] };
  const skipped: SkippedEntry[] = [];
  for (const ind of feedIndicators(db, name)) {
    if (ind.kind !== "ip" && ind.kind !== "cidr") continue;
    const parsed = parseEntry(ind.value);
    if (!parsed) {
      skipped.push({ feed: name, value: ind.value, reason: "not an address or CIDR" });
      continue;
    }
    // A whole address family in a blocklist would cut the host off; the feed checks refuse it
    // too, this is the last line.
    if (coversEverything(ind.value)) {
      skipped.push({ feed: name, value: ind.value, reason: "covers every address" });
      continue;
    }
    (parsed.family === "ip" ? set.v4 : set.v6).push(ind.value);
  }
  return { set, skipped };
}

function coversEverything(entry: string): boolean {
  const p = parseEntry(entry);
  return !!p && p.interval.start === 0n && p.interval.end === (p.family === "ip" ? 0xffffffffn : (1n << 128n) - 1n);
}

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? (value as string[]) : undefined;
}

/**
 * Quarantines, blocks and rate limits in force, as state sections. Every refusal is a `skipped`
 * entry with its reason; a refused detail (a keep address, a tap name) never widens what the VM
 * may do: a bad keep entry is dropped (the quarantine gets stricter), a bad tap is left out.
 */
function addEnforcements(state: FirewallState, rows: Enforcement[], opts: DesiredFirewallOptions, skipped: SkippedEntry[]): void {
  const quarantines: Quarantine[] = [];
  const rateLimits: RateLimit[] = [];
  const blocks = { v4: [] as string[], v6: [] as string[] };
  const skip = (e: Enforcement, value: string, reason: string): void => {
    skipped.push({ enforcement: { id: e.id, kind: e.kind, target: e.target }, value, reason });
  };
  const tapOwner = new Map<string, string>();
  const tapsOf = (e: Enforcement): string[] | undefined => {
    const live = opts.vmTaps?.(e.target);
    const taps = live ?? strings(e.detail.taps) ?? [];
    const ok: string[] = [];
    for (const t of new Set(taps)) {
      if (!DEV_NAME.test(t)) skip(e, t, "not a valid interface name");
      // Two VMs claiming one tap: one of them is stale (a VM restarted, a tap name reused).
      else if (tapOwner.has(`${e.kind} ${t}`) && tapOwner.get(`${e.kind} ${t}`) !== e.target) skip(e, t, `tap already belongs to ${tapOwner.get(`${e.kind} ${t}`)}`);
      else {
        tapOwner.set(`${e.kind} ${t}`, e.target);
        ok.push(t);
      }
    }
    return ok;
  };
  const vmRefused = (e: Enforcement): boolean => {
    const uuid = typeof e.detail.uuid === "string" ? e.detail.uuid : undefined;
    const why = opts.allowlist?.vm({ name: e.target, ...(uuid ? { uuid } : {}) });
    if (why) skip(e, e.target, `allowlisted: ${why}`);
    else if (!VM_NAME.test(e.target)) skip(e, e.target, "VM name must be 1-64 printable characters without spaces, quotes or backslashes");
    return why !== undefined || !VM_NAME.test(e.target);
  };
  for (const e of rows) {
    if (e.kind === "quarantine") {
      if (vmRefused(e)) continue;
      const keep: string[] = [];
      for (const k of strings(e.detail.keep) ?? []) {
        if (!parseEntry(k)) skip(e, k, "keep: not an address or CIDR (left out: the quarantine is stricter)");
        else if (coversEverything(k)) skip(e, k, "keep: covers every address, which would undo the quarantine");
        else keep.push(k);
      }
      quarantines.push({ vm: e.target, taps: tapsOf(e) ?? [], keep });
    } else if (e.kind === "rate_limit") {
      if (vmRefused(e)) continue;
      const bps = e.detail.bytesPerSecond;
      if (typeof bps !== "number" || !Number.isSafeInteger(bps) || bps < 1) {
        skip(e, String(bps), "bytesPerSecond must be a whole number ≥ 1");
        continue;
      }
      rateLimits.push({ vm: e.target, taps: tapsOf(e) ?? [], bytesPerSecond: bps });
    } else if (e.kind === "block") {
      const parsed = parseEntry(e.target);
      const why = parsed ? opts.allowlist?.address(e.target) : undefined;
      if (!parsed) skip(e, e.target, "not an address or CIDR");
      else if (coversEverything(e.target)) skip(e, e.target, "covers every address");
      else if (why) skip(e, e.target, `allowlisted: ${why}`);
      else (parsed.family === "ip" ? blocks.v4 : blocks.v6).push(e.target);
    }
  }
  if (quarantines.length) state.quarantines = quarantines;
  if (rateLimits.length) state.rateLimits = rateLimits;
  if (blocks.v4.length + blocks.v6.length) state.blocks = blocks;
}

export interface FirewallSyncResult extends ReconcileResult {
  skipped: SkippedEntry[];
}

/** A VM's taps now; may ask libvirt (async). Undefined, or a failure, falls back to the stored taps. */
export type VmTapsLookup = (vm: string) => string[] | undefined | Promise<string[] | undefined>;

export interface FirewallSyncOptions extends Omit<DesiredFirewallOptions, "vmTaps">, ReconcileOptions {
  vmTaps?: VmTapsLookup;
}

/** Desired state from the store, then reconcile: the one call the agent (and every response action) makes. */
export async function syncFirewall(db: Database.Database, opts: FirewallSyncOptions = {}): Promise<FirewallSyncResult> {
  const { vmTaps: lookup, ...rest } = opts;
  const vmTaps = lookup ? await resolveVmTaps(db, lookup) : undefined;
  const { state, skipped } = desiredFirewallState(db, { ...rest, ...(vmTaps ? { vmTaps } : {}) });
  return { ...(await reconcile(state, opts)), skipped };
}

/** Asks once per VM with a quarantine or rate limit in force, so building the state stays synchronous. */
async function resolveVmTaps(db: Database.Database, lookup: VmTapsLookup): Promise<(vm: string) => string[] | undefined> {
  const vms = [...new Set(activeEnforcements(db).filter((e) => e.kind !== "block").map((e) => e.target))];
  const known = new Map<string, string[] | undefined>();
  for (const vm of vms) known.set(vm, await Promise.resolve(lookup(vm)).catch(() => undefined));
  return (vm) => known.get(vm);
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
export function createFirewallSyncer(db: Database.Database, opts: FirewallSyncOptions = {}): FirewallSyncer {
  let taps = [...(opts.taps ?? [])];
  // A quarantine next to a large block feed should not re-read and re-collapse the feed.
  const feedCache: FeedSetCache = opts.feedCache ?? new Map();
  let running: Promise<FirewallSyncResult> | undefined;
  let queued: Promise<FirewallSyncResult> | undefined;
  const run = async (): Promise<FirewallSyncResult> => syncFirewall(db, { ...opts, taps, feedCache });
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
