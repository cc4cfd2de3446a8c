import { LibvirtError } from "../events/libvirt-error.js";

// Sizes as people type them (512M, 2G, 1.5GiB, 1048576) and as libvirt writes them (a number
// with a unit attribute). Binary units throughout, as libvirt and qemu-img use them.

const BINARY: Record<string, number> = { "": 1, b: 1, bytes: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tib: 1024 ** 4 };
const DECIMAL: Record<string, number> = { kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3, tb: 1000 ** 4 };

/** "512M" → bytes. A bare number is bytes unless `bareUnit` says otherwise (memory: MiB). */
export function parseSize(text: string, bareUnit = 1): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m?.[2]?.toLowerCase() ?? "";
  const factor = unit === "" ? bareUnit : (BINARY[unit] ?? DECIMAL[unit]);
  if (!m || factor === undefined) throw new LibvirtError("invalid-argument", `size ${JSON.stringify(text)} must look like 512M, 2G or 1048576`);
  const bytes = Math.round(Number(m[1]) * factor);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new LibvirtError("invalid-argument", `size ${JSON.stringify(text)} is out of range`);
  return bytes;
}

/** libvirt's <memory unit='…'>N</memory> → bytes (libvirt's default unit is KiB). */
export function unitToBytes(value: string | number, unit = "KiB"): number {
  const u = unit.toLowerCase();
  const factor = BINARY[u] ?? DECIMAL[u];
  if (factor === undefined) throw new LibvirtError("invalid-xml", `unknown size unit ${JSON.stringify(unit)}`);
  return Number(value) * factor;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  if (i === 0 && bytes >= 1024) {
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${v.toFixed(1)} ${units[i]}`;
  }
  return `${v} ${units[i]}`;
}
