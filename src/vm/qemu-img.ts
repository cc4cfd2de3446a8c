import { rm } from "node:fs/promises";
import { startProgram, throwIfNotFound } from "../events/programs.js";

// One way to copy a disk image: `qemu-img convert -p` to qcow2 (flattening any backing chain),
// with its percentage passed on as it goes. Used by `hv vm clone` and by forensic disk captures.
// A failed copy leaves no partial output file.

export interface ConvertOptions {
  source: string;
  dest: string;
  /** The source's format (default: qemu-img probes it). */
  sourceFormat?: string;
  /** Read the source even while a (paused) qemu holds its lock (-U). */
  shareLock?: boolean;
  onPercent?: (percent: number) => void;
  signal?: AbortSignal;
  /** Another qemu-img binary (tests). */
  bin?: string;
}

export async function convertImage(o: ConvertOptions): Promise<void> {
  const args = ["convert", "-p", ...(o.shareLock ? ["-U"] : []), ...(o.sourceFormat ? ["-f", o.sourceFormat] : []), "-O", "qcow2", "--", o.source, o.dest];
  const child = startProgram("qemu-img", args, { reject: false, stdin: "ignore", ...(o.signal ? { cancelSignal: o.signal } : {}) }, o.bin);
  child.stdout?.on("data", (chunk: Buffer) => {
    const all = [...chunk.toString().matchAll(/\(([\d.]+)\/100%\)/g)];
    const last = all[all.length - 1];
    if (last) o.onPercent?.(Number(last[1]));
  });
  const r = await child;
  throwIfNotFound("qemu-img", r, o.bin);
  if (r.exitCode !== 0) {
    await rm(o.dest, { force: true });
    throw new Error(`qemu-img convert of ${o.source} failed${r.exitCode === undefined ? "" : ` (exit ${r.exitCode})`}: ${String(r.stderr ?? "").trim() || r.message}`);
  }
}
