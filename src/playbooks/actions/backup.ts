// backup_vm: a backup of the VM into the configured restic repository (src/backup) — for example
// before a risky automatic response. The snapshot carries the tag hv-action:<id>, so running the
// same action again finds it instead of making a second. Not reversible: a backup is kept until
// the retention policy (`hv backup forget`) or a person removes it.

import { z } from "zod";
import { createBackup } from "../../backup/create.js";
import { redactRepository } from "../../backup/settings.js";
import { listBackups } from "../../backup/snapshots.js";
import type { ActionDefinition } from "../action.js";
import { ActionError } from "../../events/errors.js";
import { checkedVm, vmTargetOf } from "./common.js";

const params = z.strictObject({
  /** Freeze the guest's file systems through the guest agent when it is connected. */
  quiesce: z.boolean().default(true),
  /** More restic tags on the snapshot. */
  tags: z.array(z.string().regex(/^[A-Za-z0-9_.:@+-]{1,64}$/, "letters, digits and _ . : @ + - (at most 64)")).max(10).default([]),
});

export type BackupParams = z.infer<typeof params>;

export const backupVm: ActionDefinition<BackupParams> = {
  name: "backup_vm",
  risk: "copies the VM's disks into the backup repository: disk space and I/O while it runs; the guest keeps running",
  summary: "back up the VM (disks, definition, NVRAM) into the configured restic repository",
  params,
  targetOf: (alert) => vmTargetOf(alert),
  async run({ env, params: p, target, actionId, by, signal }) {
    if (!env.backup) throw new ActionError("no backup repository is configured (backup.repository in hv's config, docs/backup.md)");
    const vm = await checkedVm(env, target);
    const tag = `hv-action:${actionId}`;
    const repository = redactRepository(env.backup.repo.repository);
    const earlier = (await listBackups(env.backup.repo, vm.name)).find((b) => b.tags.includes(tag));
    if (earlier) return { result: `the backup of action ${actionId} already exists (${earlier.shortId}, ${earlier.time})`, unchanged: true, detail: { snapshot: earlier.id, repository } };
    const r = await createBackup({
      vm: vm.name, backend: env.vm, repo: env.backup.repo, stateDir: env.stateDir, stagingRoot: env.backup.stagingRoot, by,
      quiesce: p.quiesce, tags: [tag, ...p.tags], signal,
    });
    return {
      result: `backed up ${vm.name}: snapshot ${r.shortId} (${r.consistency}-consistent), ${r.dataAdded} bytes added in ${(r.ms / 1000).toFixed(1)} s`,
      detail: { snapshot: r.snapshot, repository, consistency: r.consistency, disks: r.disks, dataAdded: r.dataAdded, bytesProcessed: r.bytesProcessed, ms: r.ms, ...(r.notes.length ? { notes: r.notes } : {}) },
    };
  },
};
