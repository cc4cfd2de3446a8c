import { BackupError, parseJson, restic } from "./restic.js";
import type { KeepPolicy, ResticRepo } from "./settings.js";

// hv's backups are restic snapshots tagged `hv` and `vm:NAME` (plus `uuid:UUID`, `consistency:…`
// and any the caller adds), so restic's own tools see and filter them too. Retention is restic's
// forget policy, applied to each VM's snapshots on each host separately.

export const HV_TAG = "hv";

export interface BackupSnapshot {
  id: string;
  shortId: string;
  time: string;
  host: string;
  vm: string;
  uuid?: string;
  /** application, crash or offline (src/forensics/disk.ts). */
  consistency?: string;
  tags: string[];
}

interface ResticSnapshot {
  id: string;
  short_id: string;
  time: string;
  hostname: string;
  tags?: string[] | null;
}

/** hv's backups in the repository (of one VM when given), oldest first. */
export async function listBackups(repo: ResticRepo, vm?: string): Promise<BackupSnapshot[]> {
  const r = await restic(repo, ["snapshots", "--json", "--tag", vm ? `${HV_TAG},vm:${vm}` : HV_TAG]);
  const rows = parseJson<ResticSnapshot[] | null>("snapshots", r.stdout) ?? [];
  return rows
    .map((s) => {
      const tags = s.tags ?? [];
      const tag = (prefix: string): string | undefined => tags.find((t) => t.startsWith(prefix))?.slice(prefix.length);
      const b: BackupSnapshot = { id: s.id, shortId: s.short_id, time: s.time, host: s.hostname, vm: tag("vm:") ?? "?", tags };
      const uuid = tag("uuid:");
      if (uuid) b.uuid = uuid;
      const consistency = tag("consistency:");
      if (consistency) b.consistency = consistency;
      return b;
    })
    .sort((a, b) => a.time.localeCompare(b.time));
}

/** One backup of `vm`: an id or unique id prefix, or "latest". */
export async function findBackup(repo: ResticRepo, vm: string, snapshot: string): Promise<BackupSnapshot> {
  const all = await listBackups(repo, vm);
  if (all.length === 0) throw new BackupError("not-found", `there is no backup of ${vm} in the repository (hv backup list)`);
  if (snapshot === "latest") return all[all.length - 1]!;
  const found = all.filter((s) => s.id.startsWith(snapshot.toLowerCase()));
  if (found.length === 1) return found[0]!;
  if (found.length > 1) throw new BackupError("not-found", `${snapshot} matches ${found.length} backups of ${vm}; give more of the id`);
  throw new BackupError("not-found", `no backup of ${vm} has an id starting with ${snapshot} (hv backup list ${vm})`);
}

export function keepArgs(policy: KeepPolicy): string[] {
  const args: string[] = [];
  for (const k of ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const) {
    if (policy[k] !== undefined) args.push(`--keep-${k}`, String(policy[k]));
  }
  if (policy.within) args.push("--keep-within", policy.within);
  return args;
}

export interface ForgetResult {
  vm: string;
  host: string;
  kept: string[];
  removed: string[];
}

interface ResticForgetGroup {
  host?: string;
  keep?: ResticSnapshot[] | null;
  remove?: ResticSnapshot[] | null;
}

/**
 * Applies the policy to each VM's backups (all VMs, or the one given), per host. With `prune` the
 * data no snapshot needs any more is removed from the repository afterwards.
 */
export async function forgetBackups(repo: ResticRepo, policy: KeepPolicy, opts: { vm?: string; dryRun?: boolean; prune?: boolean } = {}): Promise<{ groups: ForgetResult[]; pruned: boolean }> {
  const policyArgs = keepArgs(policy);
  if (policyArgs.length === 0) throw new BackupError("failed", "no retention policy: give at least one --keep-* option (or backup.keep in the config)");
  const vms = opts.vm ? [opts.vm] : [...new Set((await listBackups(repo)).map((b) => b.vm))];
  const groups: ForgetResult[] = [];
  let removedAny = false;
  for (const vm of vms) {
    const r = await restic(repo, ["forget", "--json", "--tag", `${HV_TAG},vm:${vm}`, "--group-by", "host", ...policyArgs, ...(opts.dryRun ? ["--dry-run"] : [])]);
    for (const g of parseJson<ResticForgetGroup[] | null>("forget", r.stdout) ?? []) {
      const removed = (g.remove ?? []).map((s) => s.id);
      if (removed.length) removedAny = true;
      groups.push({ vm, host: g.host ?? "", kept: (g.keep ?? []).map((s) => s.id), removed });
    }
  }
  let pruned = false;
  if (opts.prune && removedAny && !opts.dryRun) {
    await restic(repo, ["prune"]);
    pruned = true;
  }
  return { groups, pruned };
}
