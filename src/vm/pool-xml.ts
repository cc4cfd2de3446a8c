import { unitToBytes } from "./size.js";
import { buildXml, child, el, parseLibvirtXml, path, text, textEl } from "./xml.js";

// Storage pools (a directory, a filesystem, LVM, …) and the volumes inside them.

export interface PoolModel {
  name: string;
  /** dir, fs, netfs, logical, disk, iscsi, … */
  type: string;
  uuid?: string;
  targetPath?: string;
  source?: { device?: string; host?: string; dir?: string; name?: string; format?: string };
  capacityBytes?: number;
  allocationBytes?: number;
  availableBytes?: number;
}

export interface VolumeModel {
  name: string;
  capacityBytes: number;
  allocationBytes?: number;
  /** qcow2, raw, iso, … */
  format?: string;
  path?: string;
  backing?: { path: string; format?: string };
}

export function parsePoolXml(xml: string): PoolModel {
  const root = parseLibvirtXml(xml, "pool");
  const m: PoolModel = { name: text(child(root, "name")) ?? "", type: root.attrs.type ?? "" };
  const uuid = text(child(root, "uuid"));
  if (uuid) m.uuid = uuid;
  const target = text(path(root, "target", "path"));
  if (target) m.targetPath = target;
  const source = child(root, "source");
  if (source) {
    const s: NonNullable<PoolModel["source"]> = {};
    const device = child(source, "device")?.attrs.path;
    const host = child(source, "host")?.attrs.name;
    const dir = child(source, "dir")?.attrs.path;
    const name = text(child(source, "name"));
    const format = child(source, "format")?.attrs.type;
    if (device) s.device = device;
    if (host) s.host = host;
    if (dir) s.dir = dir;
    if (name) s.name = name;
    if (format) s.format = format;
    if (Object.keys(s).length) m.source = s;
  }
  for (const [key, tag] of [["capacityBytes", "capacity"], ["allocationBytes", "allocation"], ["availableBytes", "available"]] as const) {
    const e = child(root, tag);
    if (e && text(e) !== undefined) m[key] = unitToBytes(text(e)!, e.attrs.unit ?? "bytes");
  }
  return m;
}

export function buildPoolXml(m: PoolModel): string {
  const s = m.source;
  return buildXml(
    el("pool", { type: m.type }, [
      textEl("name", m.name),
      m.uuid ? textEl("uuid", m.uuid) : undefined,
      s
        ? el("source", {}, [
            s.host ? el("host", { name: s.host }) : undefined,
            s.device ? el("device", { path: s.device }) : undefined,
            s.dir ? el("dir", { path: s.dir }) : undefined,
            s.name ? textEl("name", s.name) : undefined,
            s.format ? el("format", { type: s.format }) : undefined,
          ])
        : undefined,
      m.targetPath ? el("target", {}, [textEl("path", m.targetPath)]) : undefined,
    ]),
  );
}

export function parseVolumeXml(xml: string): VolumeModel {
  const root = parseLibvirtXml(xml, "volume");
  const cap = child(root, "capacity");
  const m: VolumeModel = { name: text(child(root, "name")) ?? "", capacityBytes: cap ? unitToBytes(text(cap) ?? "0", cap.attrs.unit ?? "bytes") : 0 };
  const alloc = child(root, "allocation");
  if (alloc) m.allocationBytes = unitToBytes(text(alloc) ?? "0", alloc.attrs.unit ?? "bytes");
  const format = path(root, "target", "format")?.attrs.type;
  if (format) m.format = format;
  const p = text(path(root, "target", "path"));
  if (p) m.path = p;
  const backing = text(path(root, "backingStore", "path"));
  if (backing) m.backing = { path: backing, ...(path(root, "backingStore", "format")?.attrs.type ? { format: path(root, "backingStore", "format")!.attrs.type! } : {}) };
  return m;
}

export function buildVolumeXml(m: VolumeModel): string {
  return buildXml(
    el("volume", {}, [
      textEl("name", m.name),
      textEl("capacity", m.capacityBytes, { unit: "bytes" }),
      m.allocationBytes !== undefined ? textEl("allocation", m.allocationBytes, { unit: "bytes" }) : undefined,
      m.format ? el("target", {}, [el("format", { type: m.format })]) : undefined,
      m.backing ? el("backingStore", {}, [textEl("path", m.backing.path), m.backing.format ? el("format", { type: m.backing.format }) : undefined]) : undefined,
    ]),
  );
}
