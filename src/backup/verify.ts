import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { readManifest } from "./manifest.js";
import { imageProblem, dumpFile } from "./restore.js";
import { BackupError, restic } from "./restic.js";
import type { ResticRepo } from "./settings.js";
import { findBackup, listBackups, type BackupSnapshot } from "./snapshots.js";

// `hv backup verify`: restic's own check of the repository (its structure; with readData every
// pack is read and every chunk's hash compared), then for each chosen backup every disk image is
// read back out of the repository (restic verifies each chunk it reads) and checked by
// `qemu-img check`. Problems are collected, not thrown: the report names each one.

export interface VerifyOptions {
  repo: ResticRepo;
  /** Scratch space for the images read back (removed afterwards). */
  scratchRoot: string;
  /** Only this VM's latest backup (default: the latest of every VM). */
  vm?: string;
  /** This backup (with vm). */
  snapshot?: string;
  /** restic check --read-data: read every pack in the repository. */
  readData?: boolean;
  /** Skip reading images back (restic check only). */
  images?: boolean;
  onProgress?: (p: { step: string; done: number; total: number }) => void;
}

export interface VerifyReport {
  ok: boolean;
  repository: { ok: boolean; readData: boolean; problems: string[] };
  images: Array<{ vm: string; snapshot: string; target: string; ok: boolean; problem?: string }>;
}

export async function verifyBackups(o: VerifyOptions): Promise<VerifyReport> {
  const check = await restic(o.repo, ["check", ...(o.readData ? ["--read-data"] : [])], { okExitCodes: [1] });
  const problems = check.exitCode === 0 ? [] : problemLines(check.stdout + "\n" + check.stderr);
  const report: VerifyReport = { ok: true, repository: { ok: check.exitCode === 0, readData: Boolean(o.readData), problems }, images: [] };
  if (o.images !== false) {
    const chosen = await chooseBackups(o);
    await mkdir(o.scratchRoot, { recursive: true, mode: 0o700 });
    const scratch = await mkdtemp(join(o.scratchRoot, "verify-"));
    try {
      for (const b of chosen) {
        let disks: Array<{ target: string; file: string; bytes: number }>;
        try {
          disks = (await readManifest(o.repo, b.id)).disks;
        } catch (err) {
          report.images.push({ vm: b.vm, snapshot: b.id, target: "-", ok: false, problem: (err as Error).message });
          continue;
        }
        for (const d of disks) {
          const file = join(scratch, `${b.shortId}-${d.target}.qcow2`);
          let problem: string | undefined;
          try {
            await dumpFile({ repo: o.repo, ...(o.onProgress ? { onProgress: o.onProgress } : {}) }, b.id, d.file, file, d.bytes);
            problem = await imageProblem(file);
          } catch (err) {
            problem = (err as Error).message;
          } finally {
            await rm(file, { force: true });
          }
          report.images.push({ vm: b.vm, snapshot: b.id, target: d.target, ok: problem === undefined, ...(problem ? { problem } : {}) });
        }
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  report.ok = report.repository.ok && report.images.every((i) => i.ok);
  return report;
}

async function chooseBackups(o: VerifyOptions): Promise<BackupSnapshot[]> {
  if (o.snapshot) {
    if (!o.vm) throw new BackupError("failed", "a snapshot to verify needs its VM too");
    return [await findBackup(o.repo, o.vm, o.snapshot)];
  }
  const all = await listBackups(o.repo, o.vm);
  const latest = new Map<string, BackupSnapshot>();
  for (const b of all) latest.set(`${b.host}\0${b.vm}`, b);
  return [...latest.values()];
}

/** The lines of restic check's output that describe a problem (not its progress chatter). */
function problemLines(text: string): string[] {
  const skip = /^(using temporary cache|create exclusive lock|load indexes|check all packs|check snapshots, trees and blobs|read all data|\[\d+:\d+\]|no errors were found|$)/;
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => !skip.test(l));
  return lines.length ? lines.slice(0, 50) : ["restic check reported errors"];
}
