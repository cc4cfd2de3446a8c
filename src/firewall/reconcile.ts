// Makes the kernel hold what the desired state says, touching as little as possible:
// - equal: nothing is written (rule counters keep counting);
// - same tables, chains, rules and set declarations, only set contents differ: one transaction of
//   `flush set` + `add element` for the changed sets (counters kept);
// - anything else (a set, rule or chain deleted or changed by hand, a feed or tap added): one
//   transaction that deletes hv's tables and creates them again with all their contents.
// Other tables are never read or written.

import { intervalsKey } from "./addresses.js";
import { presentDevices } from "./devices.js";
import { buildTables, replaceTablesCommands, setContentCommands } from "./build.js";
import { canonicalJson, type TableModel } from "./model.js";
import { applyCommands, type NftCommand } from "./nft.js";
import { readTables, type ObservedTable } from "./observe.js";
import { DEFAULT_TABLES, type FirewallState, type NftOptions, type TableNames } from "./state.js";

export type ReconcileAction = "unchanged" | "updated-sets" | "replaced";

export interface ReconcilePlan {
  action: ReconcileAction;
  /** "family table set" of each set whose contents are rewritten (updated-sets). */
  updatedSets: string[];
  /** Why the tables are replaced (replaced). */
  reason?: string;
  commands: NftCommand[];
}

export interface ReconcileResult extends Omit<ReconcilePlan, "commands"> {
  /** Number of nft commands in the transaction (0 when unchanged). */
  commands: number;
  /** Planned only, nothing written. */
  dryRun?: boolean;
  /** Taps in the desired state that do not exist (here or in the namespace): left out. */
  missingTaps: string[];
  ms: number;
}

export interface ReconcileOptions extends NftOptions {
  /** Leave out taps that do not exist (default true): older kernels refuse a whole batch for one. */
  onlyPresentTaps?: boolean;
  /** Decide but write nothing. */
  dryRun?: boolean;
}

function structureKey(t: TableModel): string {
  const chains = [...t.chains].sort((a, b) => (a.name < b.name ? -1 : 1)).map((c) => [c.name, c.type, c.hook, c.prio, c.policy]);
  const sets = [...t.sets].sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => [s.name, s.family, [...s.flags].sort()]);
  const rules = chains.map(([name]) => [name, t.rules.filter((r) => r.chain === name).map((r) => [r.comment, r.expr])]);
  return canonicalJson({ family: t.family, name: t.name, chains, sets, rules });
}

function structureDiff(desired: TableModel[], observed: ObservedTable[]): string | undefined {
  if (desired.length !== observed.length) return `tables: want ${desired.map((t) => `${t.family} ${t.name}`).join(", ") || "none"}, have ${observed.map((t) => `${t.family} ${t.name}`).join(", ") || "none"}`;
  for (const want of desired) {
    const have = observed.find((t) => t.family === want.family && t.name === want.name);
    if (!have) return `table ${want.family} ${want.name} is missing`;
    if (have.sets.some((s) => s.type !== (s.family === "ip" ? "ipv4_addr" : "ipv6_addr") || s.unreadable > 0)) return `table ${want.family} ${want.name} has a set hv did not write`;
    if (structureKey(want) !== structureKey(have)) return `table ${want.family} ${want.name} differs in its chains, sets or rules`;
    // nft lists a netdev chain's device only in newer versions; when it does, it must match.
    for (const c of have.chains) {
      const w = want.chains.find((x) => x.name === c.name);
      if (c.dev !== undefined && w?.dev !== c.dev) return `chain ${c.name} is on device ${c.dev}, not ${w?.dev ?? "none"}`;
    }
  }
  return undefined;
}

/** Decides what to write (pure: the tests and `--dry-run` use it without nft). */
export function planReconcile(desired: TableModel[], observed: ObservedTable[], names: TableNames = DEFAULT_TABLES): ReconcilePlan {
  const reason = structureDiff(desired, observed);
  if (reason) return { action: "replaced", updatedSets: [], reason, commands: replaceTablesCommands(desired, names) };
  const commands: NftCommand[] = [];
  const updatedSets: string[] = [];
  for (const want of desired) {
    const have = observed.find((t) => t.family === want.family && t.name === want.name)!;
    for (const s of want.sets) {
      const current = have.sets.find((x) => x.name === s.name)!;
      if (intervalsKey(current.intervals) === intervalsKey(s.intervals) && current.elements === s.intervals.length) continue;
      commands.push(...setContentCommands(want.family, want.name, s));
      updatedSets.push(`${want.family} ${want.name} ${s.name}`);
    }
  }
  return { action: commands.length ? "updated-sets" : "unchanged", updatedSets, commands };
}

export async function reconcile(desired: FirewallState, opts: ReconcileOptions = {}): Promise<ReconcileResult> {
  const started = Date.now();
  const names = opts.tables ?? DEFAULT_TABLES;
  let missingTaps: string[] = [];
  let state = desired;
  if (opts.onlyPresentTaps !== false && desired.taps.length > 0) {
    const present = await presentDevices(opts);
    missingTaps = desired.taps.filter((t) => !present.has(t));
    state = { ...desired, taps: desired.taps.filter((t) => present.has(t)) };
  }
  const tables = buildTables(state, names);
  const plan = planReconcile(tables, await readTables(opts), names);
  if (!opts.dryRun) await applyCommands(plan.commands, opts);
  return { ...(opts.dryRun ? { dryRun: true } : {}), action: plan.action, updatedSets: plan.updatedSets, ...(plan.reason ? { reason: plan.reason } : {}), commands: plan.commands.length, missingTaps, ms: Date.now() - started };
}

/** Removes hv's tables (only those two), in one transaction. */
export async function flushHvTables(opts: NftOptions = {}): Promise<void> {
  await applyCommands(replaceTablesCommands([], opts.tables ?? DEFAULT_TABLES), opts);
}
