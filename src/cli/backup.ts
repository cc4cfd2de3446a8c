import type { Command } from "commander";
import { loadAgentConfig } from "../agent/config.js";
import { defaultStateDir } from "../store/open.js";
import { createBackup, type BackupSummary } from "../backup/create.js";
import { initRepository } from "../backup/init.js";
import { restoreBackup } from "../backup/restore.js";
import { keepPolicySchema, redactRepository, resolveRepo, stagingRoot, type BackupConfig, type KeepPolicy, type ResticRepo } from "../backup/settings.js";
import { forgetBackups, listBackups } from "../backup/snapshots.js";
import { verifyBackups, type VerifyReport } from "../backup/verify.js";
import { currentUser } from "../forensics/bundle-ops.js";
import { formatBytes } from "../vm/size.js";
import { VirshBackend, resolveUri } from "../vm/virsh.js";
import { stepBars } from "./progress.js";
import { emit, table } from "./vm.js";
import { writeSafe } from "../events/terminal.js";
import { InputError } from "../events/input.js";

// `hv backup`: VM backups in a restic repository (src/backup, docs/backup.md).

interface Common {
  stateDir: string;
  config?: string;
  repo?: string;
  passwordFile?: string;
  passwordCommand?: string;
  json?: boolean;
}


export function registerBackup(program: Command): void {
  const b = program.command("backup").description("VM backups in a restic repository: init, create, list, restore, verify, forget");
  b.addHelpText(
    "after",
    `
A backup holds a consistent image of each disk of the VM (taken while it runs: external snapshot,
copy, merge back; with a connected guest agent its file systems are frozen first), its definition
and its NVRAM, as one restic snapshot tagged hv and vm:NAME. restic deduplicates, compresses and
encrypts; the repository is a directory or anything restic reaches (sftp:, rest:, s3:, …).

The repository and password come from --repo / --password-file / --password-command, else the
config's backup: section, else restic's RESTIC_REPOSITORY / RESTIC_PASSWORD_FILE /
RESTIC_PASSWORD_COMMAND, else STATE/backup/password (made by init). The password reaches restic
only through its environment, never its command line.

Examples:
  hv backup init --repo /srv/backup/hv
  hv backup create web1 --repo /srv/backup/hv
  hv backup list web1
  hv backup restore web1 latest --as web1-restored --start
  hv backup verify --read-data
  hv backup forget --keep-daily 7 --keep-weekly 4 --prune`,
  );

  common(b.command("init").description("make the repository (and, when no password is configured, STATE/backup/password)"), "hv backup init --repo /srv/backup/hv\n  hv backup init --repo sftp:backup@10.0.0.9:/srv/hv --password-file /etc/hv/backup.pass").action(
    (async (o: Common) => {
      const { repo } = settings(o);
      const r = await initRepository(repo, o.stateDir);
      emit(o, r, [
        r.created ? `created the restic repository ${r.repository}` : `${r.repository} is already a restic repository this password opens`,
        ...(r.passwordFileCreated ? [`password written to ${r.passwordFileCreated} (root only): keep a copy elsewhere, the backups cannot be read without it`] : []),
      ]);
    }),
  );

  common(b.command("create [vm...]").description("back up VMs (running ones keep running)"), "hv backup create web1\n  hv backup create web1 db1 --json\n  hv backup create --all                      every defined VM (backup.vms in the config narrows it)")
    .option("--all", "every defined VM, or the config's backup.vms")
    .option("--no-quiesce", "do not ask the guest agent to freeze file systems, even when it is connected")
    .option("--tag <tag...>", "more restic tags for the snapshots")
    .option("--by <who>", "who asks, recorded in the backup (default: user:$USER)")
    .option("--uri <uri>", "libvirt connection URI (default $HV_LIBVIRT_URI or qemu:///system)")
    .action(
      (async (vms: string[], o: Common & { all?: boolean; quiesce: boolean; tag?: string[]; by?: string; uri?: string }) => {
        const s = settings(o);
        const backend = new VirshBackend({ uri: resolveUri(o.uri) });
        if (o.all && vms.length) throw new InputError("give VM names or --all, not both");
        const names = o.all ? (s.config?.vms ?? (await backend.listDomains({ all: true })).map((d) => d.name)) : vms;
        if (names.length === 0) throw new InputError(o.all ? "there are no VMs to back up" : "name the VMs to back up, or give --all");
        const results: BackupSummary[] = [];
        const failed: Array<{ vm: string; error: string }> = [];
        for (const vm of names) {
          const bars = stepBars((step) => step === "upload");
          try {
            const r = await createBackup({
              vm, backend, repo: s.repo, stateDir: o.stateDir, stagingRoot: stagingRoot(o.stateDir, s.config), by: o.by ?? currentUser(),
              quiesce: o.quiesce, ...(o.tag ? { tags: o.tag } : {}), onProgress: bars.update,
            });
            results.push(r);
            bars.done();
            if (!o.json) writeSafe(process.stdout, backupText(r).join("\n") + "\n");
          } catch (err) {
            bars.done();
            failed.push({ vm, error: (err as Error).message });
            writeSafe(process.stderr, `hv: backup of ${vm} failed: ${(err as Error).message}\n`);
          }
        }
        if (o.json) emit(o, names.length === 1 && results.length === 1 ? results[0] : { backups: results, failed }, "");
        if (failed.length) process.exitCode = 1;
      }),
    );

  common(b.command("list [vm]").description("backups in the repository, oldest first"), "hv backup list\n  hv backup list web1 --json").action(
    (async (vm: string | undefined, o: Common) => {
      const rows = await listBackups(settings(o).repo, vm);
      emit(o, rows, rows.length ? table(["ID", "TIME", "VM", "HOST", "CONSISTENCY", "TAGS"], rows.map((r) => [r.shortId, r.time.replace(/\.\d+/, ""), r.vm, r.host, r.consistency ?? "?", extraTags(r.tags)])) : vm ? `no backups of ${vm}` : "no backups");
    }),
  );

  common(b.command("restore <vm> <snapshot>").description("define a VM again from a backup (SNAPSHOT: an id, a prefix, or latest)"), "hv backup restore web1 latest                 web1 must not exist (deleted, or on a new host)\n  hv backup restore web1 3fa9c2e1 --as web1-copy --start\n  hv backup restore web1 latest --as web1-test --disk-dir /srv/restore")
    .option("--as <name>", "define it as a new VM (new uuid, MACs and console logs) instead of under its own name")
    .option("--disk-dir <dir>", "where the restored disks go (default: where the originals were)")
    .option("--start", "start it once defined")
    .option("--uri <uri>", "libvirt connection URI (default $HV_LIBVIRT_URI or qemu:///system)")
    .action(
      (async (vm: string, snapshot: string, o: Common & { as?: string; diskDir?: string; start?: boolean; uri?: string }) => {
        const bars = stepBars(() => true);
        try {
          const r = await restoreBackup({
            repo: settings(o).repo, backend: new VirshBackend({ uri: resolveUri(o.uri) }), vm, snapshot,
            ...(o.as ? { as: o.as } : {}), ...(o.diskDir ? { diskDir: o.diskDir } : {}), start: Boolean(o.start), onProgress: bars.update,
          });
          bars.done();
          emit(o, r, [
            `restored ${r.vm} from backup ${r.from.snapshot.slice(0, 8)} of ${r.from.vm} (${r.from.created}, ${r.from.consistency})${r.started ? "; started" : ""}`,
            ...r.disks.map((d) => `  ${d.target}: ${d.file} (${formatBytes(d.bytes)})`),
            ...(r.nvram ? [`  nvram: ${r.nvram}`] : []),
          ]);
        } finally {
          bars.done();
        }
      }),
    );

  common(b.command("verify [vm]").description("restic check, then read each VM's latest backup back and qemu-img check its disks (exit 1 on any problem)"), "hv backup verify\n  hv backup verify web1 --snapshot 3fa9c2e1\n  hv backup verify --read-data             read every pack of the repository too\n  hv backup verify --no-images             restic check only")
    .option("--snapshot <id>", "this backup of VM instead of its latest")
    .option("--read-data", "restic check --read-data: read and hash every pack (slow on big repositories)")
    .option("--no-images", "do not read images back")
    .action(
      (async (vm: string | undefined, o: Common & { snapshot?: string; readData?: boolean; images: boolean }) => {
        const s = settings(o);
        if (o.snapshot && !vm) throw new InputError("--snapshot needs the VM it belongs to");
        const bars = stepBars(() => true);
        let r: VerifyReport;
        try {
          r = await verifyBackups({
            repo: s.repo, scratchRoot: stagingRoot(o.stateDir, s.config), readData: Boolean(o.readData), images: o.images,
            ...(vm ? { vm } : {}), ...(o.snapshot ? { snapshot: o.snapshot } : {}), onProgress: bars.update,
          });
        } finally {
          bars.done();
        }
        emit(o, r, verifyText(r, s.repo));
        if (!r.ok) process.exitCode = 1;
      }),
    );

  common(b.command("forget [vm]").description("apply a retention policy (restic forget, per VM and host); --prune frees the space"), "hv backup forget --keep-daily 7 --keep-weekly 4\n  hv backup forget web1 --keep-last 3 --prune\n  hv backup forget --dry-run                  the config's backup.keep, showing what would go")
    .option("--keep-last <n>", "keep the last N backups")
    .option("--keep-hourly <n>", "keep one for each of the last N hours that have one")
    .option("--keep-daily <n>", "… days")
    .option("--keep-weekly <n>", "… weeks")
    .option("--keep-monthly <n>", "… months")
    .option("--keep-yearly <n>", "… years")
    .option("--keep-within <duration>", "keep everything newer than this, relative to the latest (restic's 1y5m7d2h)")
    .option("--prune", "remove the data no remaining backup needs (restic prune)")
    .option("--dry-run", "say what would be removed, remove nothing")
    .action(
      (async (vm: string | undefined, o: Common & Record<string, string | boolean | undefined>) => {
        const s = settings(o);
        const policy = keepPolicy(o, s.config);
        const r = await forgetBackups(s.repo, policy, { ...(vm ? { vm } : {}), dryRun: Boolean(o.dryRun), prune: Boolean(o.prune) });
        const removed = r.groups.reduce((n, g) => n + g.removed.length, 0);
        emit(o, { ...r, policy, dryRun: Boolean(o.dryRun) }, [
          ...r.groups.map((g) => `${g.vm} on ${g.host}: keep ${g.kept.length}, ${o.dryRun ? "would remove" : "removed"} ${g.removed.length}${g.removed.length ? ` (${g.removed.map((id) => id.slice(0, 8)).join(" ")})` : ""}`),
          `${o.dryRun ? "would remove" : "removed"} ${removed} backup(s)${r.pruned ? "; unused data pruned" : ""}`,
        ]);
      }),
    );
}

function common(cmd: Command, examples: string): Command {
  return cmd
    .option("--state-dir <dir>", "hv's state directory", defaultStateDir())
    .option("--config <file>", "hv's config (its backup: section; default $HV_CONFIG, else /etc/hv/hv.yaml when it exists)")
    .option("--repo <repository>", "restic repository: a directory, sftp:user@host:/path, rest:https://…")
    .option("--password-file <file>", "file holding the repository password")
    .option("--password-command <command>", "command printing the repository password")
    .option("--json", "print the result as JSON")
    .addHelpText("after", `\nExamples:\n  ${examples}`);
}


function settings(o: Common): { repo: ResticRepo; config: BackupConfig | undefined } {
  const path = o.config;
  let config: BackupConfig | undefined;
  try {
    config = path ? loadAgentConfig(path).backup : undefined;
  } catch (err) {
    throw new InputError((err as Error).message);
  }
  try {
    const flags = { ...(o.repo ? { repo: o.repo } : {}), ...(o.passwordFile ? { passwordFile: o.passwordFile } : {}), ...(o.passwordCommand ? { passwordCommand: o.passwordCommand } : {}) };
    return { repo: resolveRepo(o.stateDir, config, flags), config };
  } catch (err) {
    throw new InputError((err as Error).message);
  }
}

function keepPolicy(o: Record<string, string | boolean | undefined>, config: BackupConfig | undefined): KeepPolicy {
  const raw: Record<string, unknown> = {};
  for (const k of ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const) {
    const v = o[`keep${k[0]!.toUpperCase()}${k.slice(1)}`];
    if (typeof v === "string") {
      if (!/^\d+$/.test(v)) throw new InputError(`--keep-${k} must be a whole number, got ${JSON.stringify(v)}`);
      raw[k] = Number(v);
    }
  }
  if (typeof o.keepWithin === "string") raw.within = o.keepWithin;
  if (Object.keys(raw).length === 0) {
    if (config?.keep) return config.keep;
    throw new InputError("give at least one --keep-* option, or set backup.keep in the config");
  }
  const parsed = keepPolicySchema.safeParse(raw);
  if (!parsed.success) throw new InputError(parsed.error.issues.map((i) => `--keep-${String(i.path[0])}: ${i.message}`).join("; "));
  return parsed.data;
}

function backupText(r: BackupSummary): string[] {
  return [
    `backed up ${r.vm}: snapshot ${r.shortId}, ${r.consistency}-consistent, ${formatBytes(r.bytesProcessed)} read, ${formatBytes(r.dataAdded)} added to the repository in ${(r.ms / 1000).toFixed(1)} s`,
    ...r.disks.map((d) => `  ${d.target}: ${d.source} (${formatBytes(d.bytes)} image)`),
    ...(r.nvram ? ["  nvram included"] : []),
    ...r.notes.map((n) => `  note: ${n}`),
  ];
}

function extraTags(tags: string[]): string {
  return tags.filter((t) => t !== "hv" && !/^(vm|uuid|consistency):/.test(t)).join(",") || "-";
}

function verifyText(r: VerifyReport, repo: ResticRepo): string[] {
  return [
    `${r.repository.ok ? "OK " : "BAD"} repository ${redactRepository(repo.repository)} (restic check${r.repository.readData ? " --read-data" : ""})`,
    ...r.repository.problems.map((p) => `      ${p}`),
    ...r.images.map((i) => `${i.ok ? "OK " : "BAD"} ${i.vm} ${i.snapshot.slice(0, 8)} ${i.target}${i.problem ? `: ${i.problem}` : " (qemu-img check)"}`),
    r.ok ? "all good" : "problems found",
  ];
}
