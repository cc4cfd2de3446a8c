import { unlink } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { LibvirtBackend } from "./backend.js";
import { parseDomainXml } from "./domain-xml.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { runProgram } from "../events/programs.js";

// What `delete --remove-storage` removes, and how. A domain owns its writable disks and the files
// hv made for it (named `<domain>-…`: disks, the cloud-init seed). A backing file is removed
// only when it is part of the same disk's own chain (same stem, e.g. vm-vda.qcow2 under the
// snapshot overlay vm-vda.snap1): a shared base image (a cloud image template) is never touched.

export type StorageRef = { path: string } | { pool: string; volume: string };

export interface StorageRemoval {
  target: string;
  removed: boolean;
  via?: "volume" | "file";
  error?: string;
}

export function storageOf(domainXml: string, domainName: string): StorageRef[] {
  const refs: StorageRef[] = [];
  for (const d of parseDomainXml(domainXml).disks) {
    const owned = (d.device === "disk" && !d.readonly && !d.shareable) || (d.source?.file !== undefined && basename(d.source.file).startsWith(`${domainName}-`));
    if (!owned) continue;
    if (d.source?.file) refs.push({ path: d.source.file });
    else if (d.source?.pool && d.source.volume) refs.push({ pool: d.source.pool, volume: d.source.volume });
  }
  return refs;
}

/**
 * The files the domain's serial consoles write: a `<serial type='file'>`'s source (qemu creates
 * it) and any `<log file=…>` copy. They are its own, like its disks.
 */
export function serialLogsOf(domainXml: string): string[] {
  const files = parseDomainXml(domainXml).serials.flatMap((c) => [...(c.type === "file" && c.sourcePath ? [c.sourcePath] : []), ...(c.logFile ? [c.logFile] : [])]);
  return [...new Set(files)];
}

/** Removes files on this host (none when libvirt is remote: they are on its host). */
export async function removeLocalFiles(backend: LibvirtBackend, paths: string[]): Promise<StorageRemoval[]> {
  if (!isLocalUri(backend.uri)) return paths.map((p) => ({ target: p, removed: false, error: `on the host of ${backend.uri}, not here` }));
  const out: StorageRemoval[] = [];
  for (const path of paths) {
    try {
      await unlink(path);
      out.push({ target: path, removed: true, via: "file" });
    } catch (err) {
      // A VM that never ran has no log yet: nothing to remove is not a failure.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") out.push({ target: path, removed: false, error: (err as Error).message });
    }
  }
  return out;
}

export function isLocalUri(uri: string): boolean {
  try {
    return new URL(uri).hostname === "";
  } catch {
    return false;
  }
}

/** The backing files of `path` that belong to the same disk (see above), top first; local only. */
export async function ownBackingChain(path: string): Promise<string[]> {
  const r = await runProgram("qemu-img", ["info", "--backing-chain", "--output=json", "-U", path], { timeout: 30_000 });
  if (r.exitCode !== 0) return [];
  const chain = JSON.parse(String(r.stdout)) as { filename: string }[];
  const stem = stemOf(path);
  return chain.slice(1).map((c) => c.filename).filter((f) => dirname(f) === dirname(path) && stemOf(f) === stem);
}

function stemOf(path: string): string {
  return basename(path).split(".")[0] ?? "";
}

export async function removeDomainStorage(backend: LibvirtBackend, refs: StorageRef[]): Promise<StorageRemoval[]> {
  const local = isLocalUri(backend.uri);
  const targets: StorageRef[] = [];
  for (const ref of refs) {
    targets.push(ref);
    if ("path" in ref && local) for (const b of await ownBackingChain(ref.path)) targets.push({ path: b });
  }
  const results: StorageRemoval[] = [];
  for (const t of targets) results.push(await removeOne(backend, t, local));
  return results;
}

async function removeOne(backend: LibvirtBackend, ref: StorageRef, local: boolean): Promise<StorageRemoval> {
  const label = "path" in ref ? ref.path : `${ref.pool}/${ref.volume}`;
  try {
    // Through libvirt first: it works for an unprivileged member of the libvirt group.
    const vol = "path" in ref ? await backend.volumeByPath(ref.path) : ref;
    if (vol) {
      await backend.deleteVolume(vol.pool, vol.volume);
      return { target: label, removed: true, via: "volume" };
    }
    if (!("path" in ref) || !local) return { target: label, removed: false, error: "not in any storage pool and not a local file" };
    await unlink(ref.path);
    return { target: label, removed: true, via: "file" };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { target: label, removed: false, error: "already gone" };
    return { target: label, removed: false, error: err instanceof LibvirtError || err instanceof Error ? err.message : String(err) };
  }
}
