import { existsSync } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { runProgram } from "../events/programs.js";
import type { LibvirtBackend } from "../vm/backend.js";
import { domainExists, useImageFile } from "../vm/clone.js";
import { renameForCopy, toXml } from "../vm/domain-edit.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { checkName } from "../vm/names.js";
import { isLocalUri } from "../vm/storage.js";
import { child, elements, ensureChild, parseLibvirtXml, setText } from "../vm/xml.js";
import { readManifest, type BackupManifest } from "./manifest.js";
import { BackupError, restic } from "./restic.js";
import type { ResticRepo } from "./settings.js";
import { findBackup } from "./snapshots.js";

// `hv backup restore VM SNAPSHOT [--as NEW]`: the backed-up definition is defined again — under
// its own name when no such domain exists, or as a copy (new name, new uuid, new MACs, its own
// console log files) — with each disk restored as a flat qcow2 NAME-TARGET.qcow2 next to where the
// original was (or in --disk-dir), and the NVRAM put back. Nothing existing is overwritten: a
// domain or a file already there stops the restore before anything is written, and files written
// by a restore that then fails are removed again.

export interface RestoreOptions {
  repo: ResticRepo;
  backend: LibvirtBackend;
  /** The VM whose backup this is (the vm: tag). */
  vm: string;
  /** A snapshot id or prefix, or "latest". */
  snapshot: string;
  /** Define as this new domain instead of under the original name. */
  as?: string;
  /** Where the disks go (default: the directory each original disk was in). */
  diskDir?: string;
  start?: boolean;
  onProgress?: (p: { step: string; done: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface RestoreSummary {
  vm: string;
  from: { vm: string; snapshot: string; created: string; consistency: BackupManifest["consistency"] };
  disks: Array<{ target: string; file: string; bytes: number }>;
  nvram?: string;
  started: boolean;
}

export async function restoreBackup(o: RestoreOptions): Promise<RestoreSummary> {
  const vm = checkName(o.vm, "VM name");
  const name = checkName(o.as ?? vm, "new VM name");
  if (!isLocalUri(o.backend.uri)) throw new LibvirtError("operation-invalid", `a restore writes disk images on this host, so it needs a local libvirt URI (not ${o.backend.uri})`);
  if (await domainExists(o.backend, name)) {
    throw new LibvirtError("already-exists", o.as ? `a domain named ${name} already exists` : `${name} exists: restore it as a copy (--as NEW), or delete it first (hv vm delete ${name})`);
  }
  const snap = await findBackup(o.repo, vm, o.snapshot);
  const manifest = await readManifest(o.repo, snap.id);
  const domain = parseLibvirtXml((await restic(o.repo, ["dump", snap.id, `/${manifest.domainXml}`])).stdout, "domain");
  if (o.as) renameForCopy(domain, name);

  // Where every file goes, all checked before anything is written.
  const devices = child(domain, "devices");
  const disks = devices ? elements(devices, "disk") : [];
  const plan: Array<{ from: string; to: string; bytes: number; target?: string }> = [];
  for (const d of manifest.disks) {
    const el = disks.find((x) => child(x, "target")?.attrs.dev === d.target);
    if (!el) throw new BackupError("failed", `the backed-up definition has no disk ${d.target}`);
    const to = join(o.diskDir ?? dirname(d.source), `${name}-${d.target}.qcow2`);
    useImageFile(el, to);
    plan.push({ from: d.file, to, bytes: d.bytes, target: d.target });
  }
  let nvram: string | undefined;
  if (manifest.nvram) {
    const os = ensureChild(domain, "os");
    nvram = o.as ? join(dirname(manifest.nvram.source), `${name}_VARS.fd`) : manifest.nvram.source;
    setText(ensureChild(os, "nvram"), nvram);
    plan.push({ from: manifest.nvram.file, to: nvram, bytes: manifest.nvram.bytes });
  } else if (o.as) {
    // No variables were backed up: libvirt makes fresh ones for the copy from its template.
    const n = child(child(domain, "os"), "nvram");
    if (n) n.children = [];
  }
  for (const p of plan) if (existsSync(p.to)) throw new BackupError("failed", `${p.to} already exists; nothing was restored (choose --disk-dir or --as)`);

  const written: string[] = [];
  try {
    for (const p of plan) {
      await mkdir(dirname(p.to), { recursive: true });
      written.push(p.to);
      await dumpFile(o, snap.id, p.from, p.to, p.bytes);
      if (p.target) await checkImage(p.to);
    }
    await o.backend.define(toXml(domain));
  } catch (err) {
    for (const f of written) await rm(f, { force: true });
    throw err;
  }
  if (o.start) await o.backend.start(name);
  return {
    vm: name,
    from: { vm, snapshot: snap.id, created: manifest.created, consistency: manifest.consistency },
    disks: plan.filter((p) => p.target).map((p) => ({ target: p.target!, file: p.to, bytes: p.bytes })),
    ...(nvram ? { nvram } : {}),
    started: Boolean(o.start),
  };
}

/** Writes one file of a snapshot to `to` (restic checks every chunk's hash as it reads), with progress. */
export async function dumpFile(o: { repo: ResticRepo; onProgress?: RestoreOptions["onProgress"]; signal?: AbortSignal }, snapshot: string, from: string, to: string, bytes: number): Promise<void> {
  const step = basename(from);
  const tick = setInterval(() => {
    stat(to).then(
      (s) => o.onProgress?.({ step, done: s.size, total: bytes }),
      () => undefined,
    );
  }, 250);
  try {
    await restic(o.repo, ["dump", snapshot, `/${from}`], { stdoutFile: to, ...(o.signal ? { signal: o.signal } : {}) });
  } finally {
    clearInterval(tick);
  }
  const size = (await stat(to)).size;
  if (size !== bytes) throw new BackupError("failed", `${from} of snapshot ${snapshot.slice(0, 8)} restored to ${size} bytes, the backup recorded ${bytes}`);
  o.onProgress?.({ step, done: size, total: bytes });
}

/** `qemu-img check` of a qcow2 image: undefined when clean, else what it found. */
export async function imageProblem(file: string): Promise<string | undefined> {
  const r = await runProgram("qemu-img", ["check", "--output=json", "-f", "qcow2", file], { timeout: 30 * 60_000 });
  // 3: leaked clusters only — space wasted, no data wrong.
  if (r.exitCode === 0 || r.exitCode === 3) return undefined;
  let detail = String(r.stderr || r.stdout).trim();
  try {
    const j = JSON.parse(String(r.stdout)) as { corruptions?: number; leaks?: number; "check-errors"?: number };
    detail = `${j.corruptions ?? 0} corruptions, ${j.leaks ?? 0} leaked clusters, ${j["check-errors"] ?? 0} check errors`;
  } catch {
    // not JSON: qemu-img could not open the file at all; its stderr says why
  }
  return `qemu-img check exit ${r.exitCode ?? r.signal}: ${detail}`;
}

async function checkImage(file: string): Promise<void> {
  const problem = await imageProblem(file);
  if (problem) throw new BackupError("failed", `the restored image ${file} is damaged: ${problem}`);
}
