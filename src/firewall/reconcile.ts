// Makes the kernel hold what the desired state says, touching as little as possible, table by
// table (inet hv and netdev hv are planned on their own):
// - equal: nothing is written (rule counters keep counting);
// - only set contents differ: `flush set` + `add element` for the changed sets (counters kept);
// - chains or set declarations differ (a quarantine added, a feed's mode changed, a rule deleted
//   or added by hand): only those chains are rewritten or removed and those sets declared again —
//   every chain is a base chain of its own, so the others, their counters and the other sets
//   (a 100k-element feed set) are left alone;
// - a table hv wants and the kernel lacks is created, one it no longer wants deleted, and one
//   holding a set hv cannot have written is replaced whole.
// All of it goes into ONE transaction. Other tables are never read or written.

import { intervalsKey } from "./addresses.js";
import { presentDevices } from "./devices.js";
import { addChainCommands, addSetCommands, buildTables, createTableCommands, deleteChainCommands, FirewallStateError, replaceTablesCommands, setContentCommands } from "./build.js";
import { canonicalJson, type ChainModel, type RuleModel, type TableModel } from "./model.js";
import { applyCommands, type NftCommand } from "./nft.js";
import { readTables, type ObservedTable } from "./observe.js";
import { DEFAULT_TABLES, type FirewallState, type NftOptions, type TableNames } from "./state.js";

/** updated: chains or set declarations rewritten inside existing tables; replaced: a table created, deleted or replaced. */
export type ReconcileAction = "unchanged" | "updated-sets" | "updated" | "replaced";
export type TableAction = "unchanged" | "updated-sets" | "updated" | "created" | "deleted" | "replaced";

export interface TablePlan {
  /** "family name" */
  table: string;
  action: TableAction;
  reason?: string;
  /** Sets whose contents are rewritten. */
  updatedSets: string[];
  /** Chains added, rewritten or removed ("updated"). */
  chains: string[];
}

export interface ReconcilePlan {
  action: ReconcileAction;
  /** "family table set" of each set whose contents are rewritten. */
  updatedSets: string[];
  /** Why tables or chains are written (updated, replaced). */
  reason?: string;
  tables: TablePlan[];
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

function chainKey(c: ChainModel, rules: RuleModel[]): string {
  return canonicalJson([c.name, c.type, c.hook, c.prio, c.policy, rules.filter((r) => r.chain === c.name).map((r) => [r.comment, r.expr])]);
}

function setDeclKey(s: { name: string; family: string; flags: string[] }): string {
  return canonicalJson([s.name, s.family, [...s.flags].sort()]);
}

function byName<T extends { name: string }>(list: T[]): Map<string, T> {
  return new Map(list.map((x) => [x.name, x]));
}

/** One table: what differs between what hv wants and what the kernel has, and the commands for it. */
export function planTable(want: TableModel | undefined, have: ObservedTable | undefined): TablePlan & { commands: NftCommand[] } {
  const t = want ?? have!;
  const table = `${t.family} ${t.name}`;
  const none = { updatedSets: [], chains: [] };
  if (!want) return { table, action: "deleted", reason: `${table} is no longer needed`, ...none, commands: [{ delete: { table: { family: t.family, name: t.name } } }] };
  if (!have) return { table, action: "created", reason: `${table} is missing`, ...none, commands: createTableCommands(want) };
  if (have.sets.some((s) => s.type !== (s.family === "ip" ? "ipv4_addr" : "ipv6_addr") || s.unreadable > 0)) {
    const commands: NftCommand[] = [{ delete: { table: { family: t.family, name: t.name } } }, ...createTableCommands(want)];
    return { table, action: "replaced", reason: `${table} has a set hv did not write`, ...none, commands };
  }
  const wantSets = byName(want.sets);
  const haveSets = byName(have.sets);
  const redeclared = [...haveSets.values()].filter((s) => !wantSets.has(s.name) || setDeclKey(s) !== setDeclKey(wantSets.get(s.name)!)).map((s) => s.name);
  const newSets = want.sets.filter((s) => !haveSets.has(s.name) || redeclared.includes(s.name));
  const refills = want.sets.filter((s) => {
    const cur = haveSets.get(s.name);
    return cur && !redeclared.includes(s.name) && (intervalsKey(cur.intervals) !== intervalsKey(s.intervals) || cur.elements !== s.intervals.length);
  });
  const wantChains = byName(want.chains);
  const references = (chain: string, set: string): boolean => have.rules.some((r) => r.chain === chain && JSON.stringify(r.expr).includes(`"@${set}"`));
  const changed = (c: ChainModel): boolean => {
    const w = wantChains.get(c.name);
    if (!w || chainKey(w, want.rules) !== chainKey(c, have.rules)) return true;
    // nft lists a netdev chain's device only in newer versions; when it does, it must match.
    if (c.dev !== undefined && w.dev !== c.dev) return true;
    // A set declared again takes its rules with it: nft refuses to delete a set still in use.
    return redeclared.some((set) => references(c.name, set));
  };
  const gone = have.chains.filter(changed).map((c) => c.name);
  const added = want.chains.filter((c) => gone.includes(c.name) || !have.chains.some((h) => h.name === c.name));
  const commands: NftCommand[] = [];
  // Every flush before any delete: a hand-made jump from one removed chain to another would
  // otherwise keep the second busy.
  const removals = gone.map((c) => deleteChainCommands(t.family, t.name, c));
  commands.push(...removals.map((r) => r[0]!), ...removals.map((r) => r[1]!));
  for (const s of redeclared) commands.push({ delete: { set: { family: t.family, table: t.name, name: s } } });
  for (const s of newSets) commands.push(...addSetCommands(t.family, t.name, s));
  for (const s of refills) commands.push(...setContentCommands(t.family, t.name, s));
  for (const c of added) commands.push(...addChainCommands(t.family, t.name, c, want.rules));
  const chains = [...new Set([...gone, ...added.map((c) => c.name)])].sort();
  const updatedSets = refills.map((s) => s.name);
  if (chains.length === 0 && redeclared.length === 0 && newSets.length === 0) return { table, action: updatedSets.length ? "updated-sets" : "unchanged", updatedSets, chains, commands };
  const what = [chains.length ? `chains ${chains.join(", ")}` : "", redeclared.length + newSets.length ? `sets ${[...new Set([...redeclared, ...newSets.map((s) => s.name)])].sort().join(", ")}` : ""].filter(Boolean).join("; ");
  return { table, action: "updated", reason: `${table}: ${what}`, updatedSets, chains, commands };
}

/** Decides what to write (pure: the tests and `--dry-run` use it without nft). */
export function planReconcile(desired: TableModel[], observed: ObservedTable[], names: TableNames = DEFAULT_TABLES): ReconcilePlan {
  const tables: TablePlan[] = [];
  const commands: NftCommand[] = [];
  for (const [family, name] of [["inet", names.inet], ["netdev", names.netdev]] as const) {
    const want = desired.find((t) => t.family === family);
    if (want && want.name !== name) throw new FirewallStateError(`table ${family} ${want.name} is not one of hv's tables (${names.inet}, ${names.netdev})`);
    const have = observed.find((t) => t.family === family && t.name === name);
    if (!want && !have) continue;
    const { commands: cmds, ...plan } = planTable(want, have);
    tables.push(plan);
    commands.push(...cmds);
  }
  const whole = tables.filter((t) => t.action === "created" || t.action === "deleted" || t.action === "replaced");
  const inside = tables.filter((t) => t.action === "updated");
  const action: ReconcileAction = whole.length ? "replaced" : inside.length ? "updated" : tables.some((t) => t.action === "updated-sets") ? "updated-sets" : "unchanged";
  const reasons = [...whole, ...inside].map((t) => t.reason!);
  const updatedSets = tables.flatMap((t) => t.updatedSets.map((s) => `${t.table} ${s}`));
  return { action, updatedSets, ...(reasons.length ? { reason: reasons.join("; ") } : {}), tables, commands };
}

/** Every tap the state wants a netdev chain on. */
export function wantedTaps(state: FirewallState): string[] {
  return [...new Set([...state.taps, ...(state.quarantines ?? []).flatMap((q) => q.taps), ...(state.rateLimits ?? []).flatMap((r) => r.taps)])].sort();
}

export async function reconcile(desired: FirewallState, opts: ReconcileOptions = {}): Promise<ReconcileResult> {
  const started = Date.now();
  const names = opts.tables ?? DEFAULT_TABLES;
  let missingTaps: string[] = [];
  let present: ((dev: string) => boolean) | undefined;
  const taps = wantedTaps(desired);
  if (opts.onlyPresentTaps !== false && taps.length > 0) {
    const devices = await presentDevices(opts);
    missingTaps = taps.filter((t) => !devices.has(t));
    present = (dev) => devices.has(dev);
  }
  const tables = buildTables(desired, names, present ? { present } : {});
  const plan = planReconcile(tables, await readTables(opts), names);
  if (!opts.dryRun) await applyCommands(plan.commands, opts);
  return {
    ...(opts.dryRun ? { dryRun: true } : {}),
    action: plan.action,
    updatedSets: plan.updatedSets,
    ...(plan.reason ? { reason: plan.reason } : {}),
    tables: plan.tables,
    commands: plan.commands.length,
    missingTaps,
    ms: Date.now() - started,
  };
}

/** Removes hv's tables (only those two), in one transaction. */
export async function flushHvTables(opts: NftOptions = {}): Promise<void> {
  await applyCommands(replaceTablesCommands([], opts.tables ?? DEFAULT_TABLES), opts);
}
