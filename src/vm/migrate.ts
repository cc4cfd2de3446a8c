import { statfs } from "node:fs/promises";
import type { JobInfo, LibvirtBackend, MigrateOptions } from "./backend.js";
import { parseDomainXml } from "./domain-xml.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { checkName } from "./names.js";
import { auditXml } from "./risk.js";
import { withSelfAction } from "./self-action.js";
import { parseLibvirtXml } from "./xml.js";
import { isLocalUri } from "./storage.js";

// `hv vm migrate`: what would make a migration unsafe is checked before libvirt is asked — a
// device or directory of this host passed through (it cannot move), a CPU model that exists only
// on identical hosts, disks the destination cannot see — and each is refused with the reason and
// what to do. The migration itself is libvirt's; while it runs, its job statistics (domjobinfo)
// are read for progress. The whole window is hv's own action: the agent does not alert on the
// suspend/resume and stop events a migration makes.

/** Risk checks (risk-checks.ts) that mean "a piece of this host is passed through". */
const PASSTHROUGH_CHECKS = new Set(["hostdev-pci", "hostdev-usb", "hostdev-scsi", "hostdev-other"]);

/**
 * statfs magic numbers of file systems that several hosts mount at once (libvirt's own list:
 * virFileIsSharedFS): a disk there is already on the destination.
 */
const SHARED_FS: Record<number, string> = {
  0x6969: "nfs",
  0x517b: "smb",
  0xff534d42: "cifs",
  0xfe534d42: "smb2",
  0x01161970: "gfs2",
  0x7461636f: "ocfs2",
  0x5346414f: "afs",
  0x00c36400: "ceph",
  0x47504653: "gpfs",
  0x19830326: "beegfs",
  0x0bd00bd0: "lustre",
};

export interface MigrationCheckOptions {
  live?: boolean;
  copyStorage?: boolean;
  /** The administrator says source and destination have identical CPUs (host-passthrough). */
  allowHostCpu?: boolean;
}

export interface MigrationCheck {
  /** Reasons the migration is refused; empty: it may go. */
  problems: string[];
  /** Worth knowing, not blocking. */
  notes: string[];
}

/** Checks a domain's live definition (the stored one for an offline move) against the options. */
export async function checkMigration(backend: LibvirtBackend, name: string, o: MigrationCheckOptions): Promise<MigrationCheck> {
  const state = await backend.domainState(checkName(name));
  if (o.live && state === "shut off") return { problems: [`${name} is not running: a live migration needs a running guest (leave out --live to move its definition)`], notes: [] };
  const xml = await backend.dumpXml(name, { inactive: !o.live });
  const problems: string[] = [];
  const notes: string[] = [];
  for (const f of auditXml(xml).domains.flatMap((d) => d.findings)) {
    if (PASSTHROUGH_CHECKS.has(f.check)) problems.push(`host passthrough: ${f.message}; detach it before migrating`);
  }
  const model = parseDomainXml(xml);
  if (model.cpuMode === "host-passthrough" && !o.allowHostCpu) {
    problems.push("host passthrough: the CPU is <cpu mode='host-passthrough'>, the guest sees this host's exact CPU and may crash on another; give --allow-host-cpu only if the destination's CPU is identical");
  }
  if (/<filesystem\b/.test(xml)) problems.push("host passthrough: a host directory is shared into the guest (<filesystem>); it cannot follow the guest to another host");
  if (!o.live) return { problems, notes: [...notes, "offline: only the definition moves; the disks must already be where the destination expects them"] };

  const local = isLocalUri(backend.uri);
  for (const d of model.disks) {
    if (d.device !== "disk" || d.readonly) continue;
    const path = d.source?.file ?? d.source?.dev;
    if (d.type === "network" || !path) continue;
    if (d.shareable) {
      notes.push(`disk ${d.target.dev} is shareable: taken to be on storage both hosts see`);
      continue;
    }
    const where = await storageOf(backend, path, local);
    if (where.shared === true) continue;
    if (where.shared === undefined) {
      notes.push(`disk ${d.target.dev} (${path}): ${where.why}; libvirt refuses unsafe storage itself`);
      continue;
    }
    if (!o.copyStorage) problems.push(`disk ${d.target.dev} (${path}) is on local storage (${where.why}): the destination cannot see it; migrate with --copy-storage to copy it over, or move it to shared storage`);
    else notes.push(`disk ${d.target.dev} (${path}) is copied to the destination (--copy-storage); it needs an image of the same size there, or a storage pool over ${path.slice(0, path.lastIndexOf("/")) || "/"} for libvirt to make one`);
  }
  return { problems, notes };
}

/** Pool types whose volumes several hosts reach; dir, fs, logical, disk, zfs and scsi pools are one host's. */
const SHARED_POOLS = new Set(["netfs", "gluster", "rbd", "iscsi", "iscsi-direct", "sheepdog", "vstorage", "mpath"]);

/**
 * Whether a disk's storage is shared: the file system under it when this host can see the file
 * (statfs), else the type of the storage pool libvirt keeps it in; undefined when neither tells.
 */
async function storageOf(backend: LibvirtBackend, path: string, local: boolean): Promise<{ shared?: boolean; why: string }> {
  let fs: { shared: boolean; why: string } | undefined;
  if (local) {
    try {
      const type = (await statfs(path)).type >>> 0;
      fs = SHARED_FS[type] ? { shared: true, why: SHARED_FS[type]! } : { shared: false, why: `file system type 0x${type.toString(16)}` };
    } catch {
      // Not visible from here (another mount namespace, a remote host): ask libvirt.
    }
  }
  if (fs?.shared) return fs;
  const vol = await backend.volumeByPath(path).catch(() => undefined);
  if (vol) {
    const type = parseLibvirtXml(await backend.poolXml(vol.pool), "pool").attrs.type ?? "?";
    if (SHARED_POOLS.has(type)) return { shared: true, why: `storage pool ${vol.pool}, type ${type}` };
    if (!fs) return { shared: false, why: `storage pool ${vol.pool}, type ${type}` };
  }
  return fs ?? { why: `whether ${path} is on shared storage cannot be told from here (not visible to this host, in no storage pool)` };
}

export interface MigrateRun extends MigrationCheckOptions {
  dest: string;
  migrateUri?: string;
  p2p?: boolean;
  /** hv's state directory (the self-action record). */
  stateDir?: string;
  /** Called with each domjobinfo sample while the migration runs. */
  onJob?: (job: JobInfo) => void;
  /** The destination's connection, where the finished migration's statistics are read. */
  destination?: LibvirtBackend;
  pollMs?: number;
}

export interface MigrateResult {
  name: string;
  uuid: string;
  dest: string;
  live: boolean;
  copyStorage: boolean;
  ms: number;
  /** The last statistics read while it ran. */
  job?: JobInfo;
  notes: string[];
}

/** Checks, then migrates; refuses with every problem named (LibvirtError "operation-invalid"). */
export async function migrateDomain(backend: LibvirtBackend, name: string, o: MigrateRun): Promise<MigrateResult> {
  const check = await checkMigration(backend, name, o);
  if (check.problems.length) throw new LibvirtError("operation-invalid", `refusing to migrate ${name}: ${check.problems.join("; ")}`);
  const uuid = (await backend.domainInfo(name)).uuid;
  const t0 = Date.now();
  let job: JobInfo | undefined;
  let polling = true;
  const poll = async (): Promise<void> => {
    while (polling) {
      const j = await backend.domJobInfo(name).catch(() => undefined);
      if (j && j.type !== "None" && polling) {
        job = j;
        o.onJob?.(j);
      }
      await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
    }
  };
  const opts: MigrateOptions = { live: Boolean(o.live), copyStorage: Boolean(o.copyStorage), ...(o.migrateUri ? { migrateUri: o.migrateUri } : {}), ...(o.p2p ? { p2p: true } : {}) };
  await withSelfAction(
    name,
    "migrate",
    async () => {
      const poller = o.live ? poll() : Promise.resolve();
      try {
        await backend.migrate(name, o.dest, opts);
      } finally {
        polling = false;
        await poller;
      }
    },
    { ...(o.stateDir ? { stateDir: o.stateDir } : {}), vmUuid: uuid },
  );
  // The samples above can all miss a short migration (it ends between two of them), and the last
  // one is not the total. The source forgets the domain (--undefinesource); the destination keeps
  // the completed job's statistics. Unreachable from here (--p2p), the last sample stays.
  const completed = await o.destination?.domJobInfo(name, { completed: true }).catch(() => undefined);
  if (completed) job = completed;
  return { name, uuid, dest: o.dest, live: Boolean(o.live), copyStorage: Boolean(o.copyStorage), ms: Date.now() - t0, ...(job ? { job } : {}), notes: check.notes };
}
