import { randomBytes } from "node:crypto";
import { copyFile, mkdir, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, join } from "node:path";
import { packageVersion } from "../events/version.js";
import { captureDisks, type DiskCaptureResult } from "../forensics/disk.js";
import type { LibvirtBackend } from "../vm/backend.js";
import { parseDomainXml } from "../vm/domain-xml.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { checkName } from "../vm/names.js";
import { withSelfAction } from "../vm/self-action.js";
import { isLocalUri } from "../vm/storage.js";
import { child, elements, parseLibvirtXml } from "../vm/xml.js";
import { MANIFEST_FILE, MANIFEST_FORMAT, type BackupManifest } from "./manifest.js";
import { BackupError, restic } from "./restic.js";
import type { ResticRepo } from "./settings.js";
import { HV_TAG } from "./snapshots.js";

// One backup of one VM: a consistent image of every disk (src/forensics/disk.ts: external
// snapshot, copy, blockcommit back — the guest keeps running; with the guest agent connected, its
// file systems are frozen for the snapshot), the definition and the NVRAM, staged in one directory
// that restic then stores as one snapshot. Each snapshot holds whole images, so any one restores
// alone and restic's forget can drop any other; restic's content-defined deduplication stores only
// the chunks that changed since the last backup (docs/backup.md has the measurements).
//
// The whole run is recorded as hv's own action, so the agent does not alert on the snapshot, the
// block job, or the qemu-img and restic processes it causes.

export interface BackupProgress {
  step: "disks" | "upload";
  done: number;
  total: number;
}

export interface CreateBackupOptions {
  vm: string;
  backend: LibvirtBackend;
  repo: ResticRepo;
  /** hv's state directory: the self-action record goes to its store. */
  stateDir: string;
  /** Where images are staged (STAGING/VM, removed afterwards). */
  stagingRoot: string;
  /** Who asked: "user:alice", "playbook:NAME", "schedule". */
  by: string;
  /** Freeze the guest's file systems through the guest agent when it is connected (default true). */
  quiesce?: boolean;
  /** More restic tags (e.g. hv-action:42). */
  tags?: string[];
  onProgress?: (p: BackupProgress) => void;
  signal?: AbortSignal;
  /** qemu-img (tests point it elsewhere). */
  qemuImg?: string;
}

export interface BackupSummary {
  vm: string;
  uuid: string;
  snapshot: string;
  shortId: string;
  created: string;
  consistency: BackupManifest["consistency"];
  disks: Array<{ target: string; source: string; bytes: number }>;
  nvram: boolean;
  /** Bytes restic added to the repository for this backup (after deduplication and compression). */
  dataAdded: number;
  /** Bytes it read (the staged images and definitions). */
  bytesProcessed: number;
  ms: number;
  notes: string[];
}

export async function createBackup(o: CreateBackupOptions): Promise<BackupSummary> {
  const t0 = Date.now();
  const vm = checkName(o.vm, "VM name");
  const { backend } = o;
  // The images are copied by qemu-img and read by restic on this host.
  if (!isLocalUri(backend.uri)) throw new LibvirtError("operation-invalid", `a backup copies disk images on this host, so it needs a local libvirt URI (not ${backend.uri})`);
  const info = await backend.domainInfo(vm);
  const dir = join(o.stagingRoot, vm);
  const release = await claimStaging(o.stagingRoot, vm);
  try {
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, "disks"), { recursive: true, mode: 0o700 });
    await mkdir(join(dir, "domain"), { mode: 0o700 });
    const created = new Date();
    let manifest!: BackupManifest;
    let summaryOut!: { snapshot: string; dataAdded: number; bytesProcessed: number };
    await withSelfAction(
      vm,
      "backup",
      async () => {
        const state = await backend.domainState(vm);
        const inactiveXml = await backend.dumpXml(vm, { inactive: true });
        const liveXml = state === "shut off" ? undefined : await backend.dumpXml(vm);
        const agent = liveXml !== undefined && guestAgentConnected(liveXml);
        const wantQuiesce = (o.quiesce ?? true) && agent;
        const disks: DiskCaptureResult = await captureDisks({
          backend,
          vm,
          outDir: join(dir, "disks"),
          tag: `${created.getTime()}-${randomBytes(3).toString("hex")}`,
          label: "backup",
          quiesce: wantQuiesce,
          ...(o.qemuImg ? { qemuImg: o.qemuImg } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
          onPercent: (_target, percent) => o.onProgress?.({ step: "disks", done: percent, total: 100 }),
        });
        const notes = [...disks.notes];
        if (liveXml !== undefined && !agent) notes.push("no guest agent connected: the images are crash-consistent");
        if (disks.images.length === 0) throw new BackupError("failed", `${vm} has nothing to back up: ${notes.join("; ")}`);
        await writeFile(join(dir, "domain", "inactive.xml"), inactiveXml, { mode: 0o600 });
        if (liveXml !== undefined) await writeFile(join(dir, "domain", "live.xml"), liveXml, { mode: 0o600 });
        const nvram = await stageNvram(inactiveXml, dir, notes);
        manifest = {
          format: MANIFEST_FORMAT,
          vm: { name: vm, uuid: info.uuid },
          created: created.toISOString(),
          host: hostname(),
          hv: packageVersion(),
          consistency: disks.consistency,
          state,
          disks: await Promise.all(
            disks.images.map(async (i) => ({ target: i.target, file: `disks/${basename(i.file)}`, source: i.source, format: i.format, bytes: (await stat(i.file)).size })),
          ),
          ...(nvram ? { nvram } : {}),
          domainXml: "domain/inactive.xml",
          ...(liveXml !== undefined ? { liveXml: "domain/live.xml" } : {}),
          notes,
          by: o.by,
        };
        await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n", { mode: 0o600 });
        summaryOut = await upload(o, dir, [HV_TAG, `vm:${vm}`, `uuid:${info.uuid}`, `consistency:${disks.consistency}`, ...(o.tags ?? [])]);
      },
      { stateDir: o.stateDir, vmUuid: info.uuid },
    );
    return {
      vm,
      uuid: info.uuid,
      snapshot: summaryOut.snapshot,
      shortId: summaryOut.snapshot.slice(0, 8),
      created: manifest.created,
      consistency: manifest.consistency,
      disks: manifest.disks.map((d) => ({ target: d.target, source: d.source, bytes: d.bytes })),
      nvram: manifest.nvram !== undefined,
      dataAdded: summaryOut.dataAdded,
      bytesProcessed: summaryOut.bytesProcessed,
      ms: Date.now() - t0,
      notes: manifest.notes,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
    await release();
  }
}

/** Whether the live definition shows the QEMU guest agent's channel connected. */
export function guestAgentConnected(liveXml: string): boolean {
  const devices = child(parseLibvirtXml(liveXml, "domain"), "devices");
  return (devices ? elements(devices, "channel") : []).some((c) => {
    const target = child(c, "target");
    return target?.attrs.name === "org.qemu.guest_agent.0" && target.attrs.state === "connected";
  });
}

async function stageNvram(inactiveXml: string, dir: string, notes: string[]): Promise<BackupManifest["nvram"]> {
  const source = parseDomainXml(inactiveXml).os.nvram;
  if (!source) return undefined;
  const file = `nvram/${basename(source)}`;
  try {
    await mkdir(join(dir, "nvram"), { mode: 0o700 });
    await copyFile(source, join(dir, file));
  } catch (err) {
    // A UEFI guest that never booted has no variables file yet: restoring makes a fresh one.
    notes.push(`NVRAM ${source} not copied: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "it does not exist (never booted?)" : (err as Error).message}`);
    return undefined;
  }
  return { file, source, bytes: (await stat(join(dir, file))).size };
}

interface ResticBackupSummary {
  message_type: "summary";
  snapshot_id: string;
  data_added: number;
  total_bytes_processed: number;
}

async function upload(o: CreateBackupOptions, dir: string, tags: string[]): Promise<{ snapshot: string; dataAdded: number; bytesProcessed: number }> {
  let summary: ResticBackupSummary | undefined;
  // Relative to the staging directory, so the snapshot's root holds hv-backup.json, disks/, domain/.
  await restic(o.repo, ["backup", "--json", "--tag", tags.join(","), "."], {
    cwd: dir,
    ...(o.signal ? { signal: o.signal } : {}),
    onJson: (m) => {
      if (m.message_type === "status" && typeof m.total_bytes === "number") o.onProgress?.({ step: "upload", done: Number(m.bytes_done ?? 0), total: m.total_bytes });
      if (m.message_type === "summary") summary = m as unknown as ResticBackupSummary;
    },
  });
  if (!summary?.snapshot_id) throw new BackupError("failed", "restic backup finished without naming its snapshot");
  // restic prints the short id in its summary; the full one is what list and restore show.
  const full = await restic(o.repo, ["snapshots", "--json", summary.snapshot_id]);
  const id = (JSON.parse(full.stdout) as Array<{ id: string }>)[0]?.id ?? summary.snapshot_id;
  return { snapshot: id, dataAdded: summary.data_added, bytesProcessed: summary.total_bytes_processed };
}

/**
 * One backup of a VM at a time: STAGING/VM.lock holds the pid of the hv that stages it. A lock
 * whose process is gone (hv was killed) is taken over, and its leftovers are removed by the caller.
 */
async function claimStaging(root: string, vm: string): Promise<() => Promise<void>> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const lock = join(root, `${vm}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(lock, "wx", 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number((await readFile(lock, "utf8").catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new BackupError("locked", `another backup of ${vm} is running (pid ${pid}, ${lock})`);
      await rm(lock, { force: true });
    }
  }
  throw new BackupError("locked", `could not take ${lock}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
