import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { LibvirtBackend } from "../vm/backend.js";
import { parseDomainXml, type DiskModel } from "../vm/domain-xml.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { convertImage as copyImage } from "../vm/qemu-img.js";

// A consistent image of every disk of a running guest without stopping it: an external disk-only
// snapshot of all disks at once (--atomic) freezes the current images under new overlays, the
// frozen layers are copied with `qemu-img convert` (flattening their backing chains), then each
// overlay is committed back into its image (blockcommit --active --shallow --pivot) and deleted.
// Whatever fails after the snapshot, the guest is put back on its original files before the error
// is reported. A guest that is shut off is copied directly. Forensics and backups (src/backup) both
// take their disk images this way.

export interface DiskCaptureOptions {
  backend: LibvirtBackend;
  vm: string;
  /** Where the images go (DIR/TARGET.qcow2). */
  outDir: string;
  /** Unique tag for overlay names (the bundle id). */
  tag: string;
  /** Who makes the overlays, in their names (FILE.hv-LABEL-TAG.qcow2); default "forensic". */
  label?: string;
  /**
   * Ask the guest agent to freeze the guest's file systems around the snapshot (--quiesce), for an
   * application-consistent image. When the agent does not answer, the snapshot is taken without it
   * (crash-consistent) and a note says so.
   */
  quiesce?: boolean;
  /** Directory for the overlays; default: next to each disk (qemu can reach it, libvirt labels it). */
  overlayDir?: string;
  /** The qemu-img binary (tests point it elsewhere to make the copy fail). */
  qemuImg?: string;
  onPercent?: (target: string, percent: number) => void;
  signal?: AbortSignal;
}

export interface DiskImage {
  target: string;
  /** The guest's image file that was copied. */
  source: string;
  /** Its format as libvirt declares it. */
  format: string;
  /** The image in outDir. */
  file: string;
  /** snapshot: live, via an external snapshot; offline: the guest was shut off. */
  method: "snapshot" | "offline";
}

export interface DiskCaptureResult {
  images: DiskImage[];
  /** Disks left out and why. */
  notes: string[];
  /**
   * application: file systems frozen by the guest agent; crash: as if the power was cut at that
   * instant; offline: the guest was shut off.
   */
  consistency: "application" | "crash" | "offline";
}

export async function captureDisks(o: DiskCaptureOptions): Promise<DiskCaptureResult> {
  const { backend, vm } = o;
  const state = await backend.domainState(vm);
  const model = parseDomainXml(await backend.dumpXml(vm, { inactive: state === "shut off" }));
  const notes: string[] = [];
  const eligible: Array<DiskModel & { source: { file: string } }> = [];
  for (const d of model.disks) {
    const file = d.source?.file;
    if (d.device !== "disk") continue;
    if (!file) notes.push(`disk ${d.target.dev}: ${d.type} disk without a local file, not captured`);
    else if (d.readonly) notes.push(`disk ${d.target.dev}: read-only, not captured`);
    else eligible.push(d as DiskModel & { source: { file: string } });
  }
  if (eligible.length === 0) {
    notes.push(`${vm} has no writable file-backed disk to capture`);
    return { images: [], notes, consistency: state === "shut off" ? "offline" : "crash" };
  }
  const convert = (d: DiskModel & { source: { file: string } }, method: DiskImage["method"]): Promise<DiskImage> =>
    convertImage(o, d.target.dev, d.source.file, d.format ?? "raw").then((file) => ({ target: d.target.dev, source: d.source.file, format: d.format ?? "raw", file, method }));

  if (state === "shut off") {
    const images: DiskImage[] = [];
    for (const d of eligible) images.push(await convert(d, "offline"));
    return { images, notes, consistency: "offline" };
  }

  const overlays = new Map<string, string>();
  for (const d of eligible) {
    const overlay = join(o.overlayDir ?? dirname(d.source.file), `${basename(d.source.file)}.hv-${o.label ?? "forensic"}-${o.tag}.qcow2`);
    if (existsSync(overlay)) throw new LibvirtError("already-exists", `overlay ${overlay} already exists`);
    overlays.set(d.target.dev, overlay);
  }
  const specs = model.disks.map((d) => ({ target: d.target.dev, ...(overlays.has(d.target.dev) ? { overlay: overlays.get(d.target.dev)! } : {}) }));
  let consistency: DiskCaptureResult["consistency"] = "crash";
  const snapshot = async (quiesce: boolean): Promise<void> => {
    try {
      await backend.diskSnapshotNoMetadata(vm, specs, { quiesce });
    } catch (err) {
      // --atomic: libvirt rolled back; remove any overlay file it left behind.
      for (const f of overlays.values()) await rm(f, { force: true });
      throw err;
    }
  };
  if (o.quiesce) {
    try {
      await snapshot(true);
      consistency = "application";
    } catch (err) {
      notes.push(`the guest agent did not freeze the file systems (${(err as Error).message}); the images are crash-consistent`);
      await snapshot(false);
    }
  } else {
    await snapshot(false);
  }

  const images: DiskImage[] = [];
  let failure: Error | undefined;
  for (const d of eligible) {
    if (failure) break;
    try {
      images.push(await convert(d, "snapshot"));
    } catch (err) {
      failure = err as Error;
    }
  }
  const stuck = await mergeBack(backend, vm, eligible, overlays);
  if (stuck.length) {
    const msg = `could not merge the forensic overlays back: ${stuck.join("; ")}`;
    throw new LibvirtError("other", failure ? `${failure.message}; and ${msg}` : msg);
  }
  if (failure) throw new LibvirtError("other", `disk capture failed: ${failure.message} (the guest is back on its original disks, overlays removed)`);
  return { images, notes, consistency };
}

/** Commits every overlay back and pivots; returns the disks that are not back on their file. */
async function mergeBack(backend: LibvirtBackend, vm: string, disks: Array<DiskModel & { source: { file: string } }>, overlays: Map<string, string>): Promise<string[]> {
  const stuck: string[] = [];
  for (const d of disks) {
    const target = d.target.dev;
    const overlay = overlays.get(target)!;
    let error: string | undefined;
    try {
      await backend.blockCommitActive(vm, target);
    } catch (err) {
      error = (err as Error).message;
      // A commit that reached the ready phase but did not pivot can still be completed.
      const job = await backend.blockJobInfo(vm, target).catch(() => undefined);
      if (job) await backend.blockJobAbort(vm, target, { pivot: true }).catch(() => undefined);
    }
    const now = (await backend.domBlkList(vm).catch(() => [])).find((r) => r.target === target)?.source;
    if (now === d.source.file) {
      await rm(overlay, { force: true });
    } else {
      stuck.push(`${target} is on ${now ?? "?"}, not ${d.source.file}${error ? ` (${error})` : ""}; overlay ${overlay} kept`);
    }
  }
  return stuck;
}

async function convertImage(o: DiskCaptureOptions, target: string, source: string, format: string): Promise<string> {
  const file = join(o.outDir, `${target}.qcow2`);
  await copyImage({
    source,
    dest: file,
    sourceFormat: format,
    onPercent: (p) => o.onPercent?.(target, p),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.qemuImg ? { bin: o.qemuImg } : {}),
  }).catch((err: Error) => {
    throw new Error(err.message.replace(`convert of ${source}`, `convert of ${target} (${source})`));
  });
  return file;
}
