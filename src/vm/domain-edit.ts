import { randomBytes } from "node:crypto";
import { LibvirtError } from "../events/libvirt-error.js";
import { buildXml, child, el, elements, ensureChild, removeChildren, setText, text, type XmlElement } from "./xml.js";

// Changes to an existing definition are made on its parsed XML tree, not on the model, so that
// elements hv does not model (cputune, numa, qemu:commandline, …) survive `set`, `clone` and
// friends unchanged.

export function setVcpus(domain: XmlElement, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > 4096) throw new LibvirtError("invalid-argument", `vcpus must be an integer from 1 to 4096, got ${count}`);
  const vcpu = ensureChild(domain, "vcpu");
  // `current` would cap the running count below the new maximum.
  delete vcpu.attrs.current;
  setText(vcpu, count);
}

export function setMemory(domain: XmlElement, bytes: number): void {
  const kib = Math.floor(bytes / 1024);
  if (kib < 1024) throw new LibvirtError("invalid-argument", `memory must be at least 1 MiB`);
  for (const tag of ["memory", "currentMemory"]) {
    const e = tag === "memory" ? ensureChild(domain, tag) : child(domain, tag);
    if (!e) continue;
    e.attrs = { ...e.attrs, unit: "KiB" };
    setText(e, kib);
  }
}

/** A random MAC in QEMU's locally administered 52:54:00 range. */
export function randomMac(): string {
  return ["52", "54", "00", ...[...randomBytes(3)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/** Gives every <interface> a fresh MAC and drops host-side names libvirt assigned (vnetN). */
export function renewInterfaces(domain: XmlElement): void {
  const devices = child(domain, "devices");
  if (!devices) return;
  for (const nic of elements(devices, "interface")) {
    ensureChild(nic, "mac").attrs = { address: randomMac() };
    removeChildren(nic, (e) => e.name === "target" && /^(vnet|macvtap|tap)\d+$/.test(e.attrs.dev ?? ""));
  }
}

/**
 * Renames a definition for a copy: new name, no uuid (libvirt makes one), new MACs, and its own
 * console logs (two guests appending to one log file would mix their evidence).
 */
export function renameForCopy(domain: XmlElement, newName: string): void {
  const oldName = text(child(domain, "name")) ?? "";
  renameConsoleLogs(domain, oldName, newName);
  setText(ensureChild(domain, "name"), newName);
  removeChildren(domain, (e) => e.name === "uuid");
  renewInterfaces(domain);
  // Per-VM firmware variables are made fresh from their template.
  const nvram = child(child(domain, "os"), "nvram");
  if (nvram) nvram.children = [];
}

/**
 * `<log file=…>` of serial/console/channel devices, and the file a `type='file'` one writes to
 * (`<source path=…>`): the old name in the file name becomes the new one, else a prefix.
 */
function renameConsoleLogs(domain: XmlElement, oldName: string, newName: string): void {
  const renamed = (file: string): string => {
    const slash = file.lastIndexOf("/");
    const dir = file.slice(0, slash + 1);
    const base = file.slice(slash + 1);
    return oldName && base.includes(oldName) ? dir + base.split(oldName).join(newName) : `${dir}${newName}-${base}`;
  };
  for (const device of elements(child(domain, "devices") ?? el("devices"))) {
    const log = child(device, "log");
    if (log?.attrs.file) log.attrs.file = renamed(log.attrs.file);
    const source = child(device, "source");
    if (["serial", "console", "channel"].includes(device.name) && device.attrs.type === "file" && source?.attrs.path) source.attrs.path = renamed(source.attrs.path);
  }
}

export function toXml(domain: XmlElement): string {
  return buildXml(domain);
}

