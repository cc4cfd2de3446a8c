import { access, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { LibvirtBackend } from "./backend.js";
import { renameForCopy, toXml } from "./domain-edit.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { checkName } from "./names.js";
import { isLocalUri } from "./storage.js";
import { child, elements, ensureChild, removeChildren, parseLibvirtXml, type XmlElement } from "./xml.js";
import { convertImage } from "./qemu-img.js";

// `hv vm clone`: what virt-clone does, without needing virt-clone. Every writable disk is copied
// (and flattened: the copy has no backing chain) with qemu-img next to the original; the
// definition gets the new name, a fresh uuid and fresh MACs. If defining fails the copies are
// removed again.

export interface CloneResult {
  name: string;
  disks: { target: string; from: string; to: string }[];
}

export interface CloneOptions {
  /** How far the copy of each disk is (percent), for a progress display. */
  onCopy?: (target: string, percent: number, index: number, of: number) => void;
}

export async function cloneDomain(backend: LibvirtBackend, source: string, newName: string, opts: CloneOptions = {}): Promise<CloneResult> {
  checkName(source);
  checkName(newName, "new name");
  if (!isLocalUri(backend.uri)) throw new LibvirtError("operation-invalid", `clone copies disk images with qemu-img on this host, so it needs a local URI (not ${backend.uri})`);
  const state = await backend.domainState(source);
  if (state !== "shut off" && state !== "paused") throw new LibvirtError("operation-invalid", `${source} is ${state}; stop or pause it before cloning so its disks are consistent`);
  if (await domainExists(backend, newName)) throw new LibvirtError("already-exists", `a domain named ${newName} already exists`);

  const domain = parseLibvirtXml(await backend.dumpXml(source, { inactive: true }), "domain");
  const devices = child(domain, "devices");
  const plan: CloneResult["disks"] = [];
  for (const disk of devices ? elements(devices, "disk") : []) {
    if ((disk.attrs.device ?? "disk") !== "disk" || child(disk, "readonly") || child(disk, "shareable")) continue;
    const src = child(disk, "source");
    const target = child(disk, "target")?.attrs.dev ?? `disk${plan.length}`;
    if (disk.attrs.type !== "file" || !src?.attrs.file) {
      throw new LibvirtError("operation-invalid", `disk ${target} of ${source} is not a plain file (type ${disk.attrs.type ?? "?"}); clone only copies file disks`);
    }
    const to = join(dirname(src.attrs.file), `${newName}-${target}.qcow2`);
    if (await fileExists(to)) throw new LibvirtError("already-exists", `${to} already exists`);
    plan.push({ target, from: src.attrs.file, to });
    useImageFile(disk, to);
  }
  renameForCopy(domain, newName);

  const made: string[] = [];
  try {
    for (const [i, d] of plan.entries()) {
      opts.onCopy?.(d.target, 0, i, plan.length);
      // shareLock (-U): the source may be open by a paused qemu.
      await convertImage({ source: d.from, dest: d.to, shareLock: true, onPercent: (p) => opts.onCopy?.(d.target, p, i, plan.length) }).catch((err: Error) => {
        throw new LibvirtError("other", err.message);
      });
      made.push(d.to);
    }
    await backend.define(toXml(domain));
  } catch (err) {
    for (const f of made) await unlink(f).catch(() => undefined);
    throw err;
  }
  return { name: newName, disks: plan };
}

/** Points a <disk> at a flat qcow2 file of its own (a copy or a restored backup): no backing chain, no pool. */
export function useImageFile(disk: XmlElement, file: string): void {
  disk.attrs.type = "file";
  const src = ensureChild(disk, "source");
  // A volume (pool=, volume=) or block device (dev=) becomes a plain file; the rest (seclabels…) stays.
  const { pool: _pool, volume: _volume, dev: _dev, ...rest } = src.attrs;
  src.attrs = { ...rest, file };
  ensureChild(disk, "driver").attrs = { ...(child(disk, "driver")?.attrs ?? {}), name: "qemu", type: "qcow2" };
  removeChildren(disk, (e) => e.name === "backingStore");
}

export async function domainExists(backend: LibvirtBackend, name: string): Promise<boolean> {
  try {
    await backend.domainState(name);
    return true;
  } catch (err) {
    if (err instanceof LibvirtError && err.code === "not-found") return false;
    throw err;
  }
}

async function fileExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
