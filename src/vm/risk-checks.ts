// The risk checks: one small function per risky setting of a libvirt domain. Severities follow
// one question — what does an attacker who controls the guest (or reaches its ports) gain on the
// host? critical: host root or host data directly; high: a short path out of the guest's box or
// onto the network; medium: weaker isolation or a wider attack surface; low: hygiene that matters
// on some hosts; info: worth knowing, rarely a problem. docs/vm-audit.md explains each one.
import type { Hit, RiskCheck, RiskSeverity } from "./risk.js";
import { child, children, descendants, type XmlElement } from "./risk-xml.js";

const devices = (d: XmlElement): XmlElement[] => child(d, "devices")?.children ?? [];
const devicesNamed = (d: XmlElement, ...names: string[]): XmlElement[] => devices(d).filter((e) => names.includes(e.name));
const isReadonly = (e: XmlElement): boolean => child(e, "readonly") !== undefined;

/** Loopback (or a UNIX-only listener) reaches only local processes. */
export function isLoopback(addr: string): boolean {
  const a = addr.trim().replace(/^\[|\]$/g, "").toLowerCase();
  return a === "localhost" || a === "::1" || /^127\./.test(a) || a === "::ffff:127.0.0.1";
}

export function isAnyAddress(addr: string): boolean {
  const a = addr.trim().replace(/^\[|\]$/g, "");
  return a === "0.0.0.0" || a === "::" || a === "0:0:0:0:0:0:0:0";
}

/** Host directories whose exposure gives the guest the host itself (or every other guest). */
const SYSTEM_DIRS = ["/etc", "/root", "/boot", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/proc", "/sys", "/dev", "/run", "/var/run", "/var/lib/libvirt", "/nix", "/var/log"];
/** Directories that are sensitive as a whole but hold ordinary data below them. */
const SENSITIVE_ROOTS = ["/", "/home", "/var", "/srv", "/mnt", "/media", "/opt"];
/** Writable by users other than root: a local user can swap or symlink what lives there. */
const USER_DIRS = ["/home", "/tmp", "/var/tmp", "/dev/shm"];

const norm = (p: string): string => (p.length > 1 ? p.replace(/\/+$/, "") : p);
const under = (p: string, dir: string): boolean => norm(p) === dir || norm(p).startsWith(dir === "/" ? "/" : dir + "/");
export const isSensitiveHostDir = (p: string): boolean => SYSTEM_DIRS.some((d) => under(p, d)) || SENSITIVE_ROOTS.includes(norm(p));

// ---- host devices ---------------------------------------------------------------------------

const hostdevs = (d: XmlElement, type: string): XmlElement[] =>
  devicesNamed(d, "hostdev").filter((h) => (h.attrs.mode ?? "subsystem") === "subsystem" && h.attrs.type === type);

function pciAddress(e: XmlElement | undefined): string {
  const a = child(child(e, "source"), "address") ?? child(e, "address");
  if (!a) return "";
  const hex = (v: string | undefined, w: number): string => (v === undefined ? "?" : Number(v).toString(16).padStart(w, "0"));
  return ` ${hex(a.attrs.domain ?? "0", 4)}:${hex(a.attrs.bus, 2)}:${hex(a.attrs.slot, 2)}.${hex(a.attrs.function ?? "0", 1)}`;
}

const hostdevPci: RiskCheck = {
  id: "hostdev-pci",
  severity: "high",
  title: "PCI device passed through to the guest",
  fix: "Remove the device unless the guest needs it; otherwise keep it alone in its IOMMU group, bound to vfio-pci, and prefer an SR-IOV VF or a mediated device.",
  run: (d) => [
    ...hostdevs(d, "pci").map((h) => ({ at: h, message: `PCI device${pciAddress(h)} is passed through: the guest drives real hardware that can DMA, keep state across resets and expose device firmware bugs` })),
    ...devicesNamed(d, "disk").filter((e) => e.attrs.type === "nvme").map((e) => ({ at: e, message: `NVMe controller${pciAddress(e)} is handed to QEMU's userspace driver: the whole controller, not a volume, belongs to this guest` })),
    ...devicesNamed(d, "interface").filter((e) => e.attrs.type === "hostdev").map((e): Hit => ({
      at: e, severity: "medium",
      message: `network function${pciAddress(e)} is passed through (SR-IOV VF): the guest bypasses the host's bridge and firewall, and VF isolation depends on the NIC`,
    })),
  ],
};

const hostdevUsb: RiskCheck = {
  id: "hostdev-usb",
  severity: "medium",
  title: "USB device passed through to the guest",
  fix: "Detach the device when it is not in use; never pass through keyboards, security keys or storage the host relies on.",
  run: (d) => hostdevs(d, "usb").map((h) => {
    const src = child(h, "source");
    const id = [child(src, "vendor")?.attrs.id, child(src, "product")?.attrs.id].filter(Boolean).join(":");
    return { at: h, message: `USB device ${id || "(by address)"} is passed through: the guest can reflash or impersonate it, and its traffic never passes the host` };
  }),
};

const hostdevScsi: RiskCheck = {
  id: "hostdev-scsi",
  severity: "high",
  title: "SCSI device passed through to the guest",
  fix: "Give the guest a volume from a storage pool instead; if a raw SCSI device is needed, make it readonly and dedicated to this guest.",
  run: (d) => [...hostdevs(d, "scsi"), ...hostdevs(d, "scsi_host")].map((h) => ({
    at: h,
    message: h.attrs.type === "scsi_host"
      ? "a vhost-scsi target is passed through: the guest sends SCSI commands to a host target directly"
      : `host SCSI device on ${child(child(h, "source"), "adapter")?.attrs.name ?? "?"} is passed through${isReadonly(h) ? " (readonly)" : ""}: the guest sends raw SCSI commands (firmware updates, writes to the whole LUN)`,
  })),
};

const hostdevOther: RiskCheck = {
  id: "hostdev-other",
  severity: "high",
  title: "Mediated device or host device node given to the guest",
  fix: "Remove it unless needed; for mdev keep the host vendor driver patched, for capabilities devices prefer a storage volume or a virtual NIC.",
  run: (d) => devicesNamed(d, "hostdev").flatMap((h): Hit[] => {
    if (h.attrs.mode === "capabilities") {
      const src = child(h, "source");
      const what = child(src, "block")?.text ?? child(src, "char")?.text ?? child(src, "interface")?.text ?? h.attrs.type ?? "";
      return [{ at: h, message: `host ${h.attrs.type ?? "device"} ${what} is handed to the guest (capabilities mode): it reaches the host's own device node` }];
    }
    if (h.attrs.type === "mdev") return [{ at: h, severity: "medium", message: `mediated device (${h.attrs.model ?? "mdev"}) is assigned: the host vendor driver that mediates it is guest-reachable attack surface` }];
    return [];
  }),
};

// ---- QEMU passthrough -----------------------------------------------------------------------

const qemuCommandline: RiskCheck = {
  id: "qemu-commandline",
  severity: "high",
  title: "Arbitrary QEMU arguments (<qemu:commandline>)",
  fix: "Express the setting in domain XML; if no element exists, review each argument and keep the domain out of production.",
  run: (d) => children(d, "qemu:commandline").map((c) => {
    const args = children(c, "qemu:arg").map((a) => a.attrs.value ?? "");
    const env = children(c, "qemu:env").map((e) => `${e.attrs.name ?? ""}=${e.attrs.value ?? ""}`);
    const shown = [...args, ...env.map((e) => `env ${e}`)].join(" ");
    return { at: c, message: `raw QEMU arguments bypass libvirt's validation and labelling (and this audit): ${shown.length > 160 ? shown.slice(0, 157) + "…" : shown || "(empty)"}` };
  }),
};

const qemuOverrides: RiskCheck = {
  id: "qemu-overrides",
  severity: "medium",
  title: "QEMU capabilities or device properties overridden",
  fix: "Remove <qemu:capabilities>/<qemu:override> once the bug it worked around is fixed; libvirt marks such domains tainted.",
  run: (d) => [...children(d, "qemu:capabilities"), ...children(d, "qemu:override")].map((e) => ({
    at: e,
    message: `${e.name} changes what libvirt believes QEMU supports or sets device properties libvirt does not check`,
  })),
};

// ---- security labels (sVirt, DAC) -----------------------------------------------------------

const domainLabels = (d: XmlElement): XmlElement[] => children(d, "seclabel");
const isMacModel = (l: XmlElement): boolean => l.attrs.model !== "dac";
/** Label of a <seclabel model='dac'> that makes QEMU run as root (uid 0). */
export function dacRunsAsRoot(label: string): "root" | "group" | false {
  const [user = "", group = ""] = label.split(":").map((s) => s.trim().replace(/^\+/, ""));
  if (user === "0" || user === "root") return "root";
  if (group === "0" || group === "root") return "group";
  return false;
}
const macDisabled = (d: XmlElement): XmlElement | undefined =>
  domainLabels(d).find((l) => isMacModel(l) && (l.attrs.type === "none" || l.attrs.model === "none"));
const dacRootLabel = (d: XmlElement): XmlElement | undefined =>
  domainLabels(d).find((l) => l.attrs.model === "dac" && l.attrs.type !== "none" && dacRunsAsRoot(child(l, "label")?.text ?? "") === "root");

const seclabelNone: RiskCheck = {
  id: "seclabel-none",
  severity: "high",
  title: "sVirt confinement disabled",
  fix: "Remove the <seclabel type='none'/> so libvirt applies a dynamic SELinux/AppArmor label (<seclabel type='dynamic'/>).",
  run: (d) => domainLabels(d).flatMap((l): Hit[] => {
    if (l.attrs.type !== "none" && l.attrs.model !== "none") return [];
    if (l.attrs.model === "dac") return [{ at: l, severity: "low", message: "DAC labelling is off: libvirt will not chown the guest's files, so QEMU runs with whatever access its configured user already has" }];
    return [{ at: l, message: `no ${l.attrs.model && l.attrs.model !== "none" ? l.attrs.model : "SELinux/AppArmor"} confinement: a QEMU escape can read and write every other guest's disks and anything else QEMU's user can reach` }];
  }),
};

const seclabelRelabelOff: RiskCheck = {
  id: "seclabel-relabel-off",
  severity: "low",
  title: "Relabelling turned off",
  fix: "Let libvirt relabel (relabel='yes'), or label the resource by hand and document why.",
  run: (d) => descendants(d, "seclabel").filter((l) => l.attrs.relabel === "no" && l.attrs.type !== "none" && l.attrs.model !== "none").map((l) => ({
    at: l,
    message: domainLabels(d).includes(l)
      ? `libvirt will not label the guest's resources (${l.attrs.model ?? "default"} model): confinement depends on labels someone set by hand`
      : `a ${l.attrs.model ?? "security"} label is not applied to this resource: it keeps its host label, which may be shared with other guests`,
  })),
};

const seclabelMissing: RiskCheck = {
  id: "seclabel-missing",
  severity: "info",
  title: "No security label in the XML",
  fix: "Check that the running domain's XML (virsh dumpxml) shows <seclabel type='dynamic' model='selinux|apparmor'>; if it shows none, set security_driver in qemu.conf.",
  run: (d) => (domainLabels(d).length === 0 && d.attrs.type !== "test"
    ? [{ at: d, message: "no <seclabel>: confinement depends on the host's default security driver (libvirt adds the label when the guest starts)" }]
    : []),
};

const dacRoot: RiskCheck = {
  id: "dac-root",
  severity: "high",
  title: "QEMU runs as root (DAC label)",
  fix: "Remove the DAC label so QEMU runs as the unprivileged user from qemu.conf, or use a dedicated non-root uid:gid.",
  run: (d) => domainLabels(d).filter((l) => l.attrs.model === "dac" && l.attrs.type !== "none").flatMap((l): Hit[] => {
    const label = child(l, "label")?.text ?? "";
    const who = dacRunsAsRoot(label);
    if (who === "root") return [{ at: l, message: `QEMU runs as root (${label}): a guest escape is a host root shell unless SELinux/AppArmor still confines it` }];
    if (who === "group") return [{ at: l, severity: "medium", message: `QEMU runs with group root (${label}): it can read every root-group file on the host` }];
    return [];
  }),
};

const unconfinedRoot: RiskCheck = {
  id: "unconfined-root",
  severity: "critical",
  title: "QEMU runs as root with no sVirt confinement",
  fix: "Run QEMU as an unprivileged user and enable a dynamic SELinux/AppArmor label; either alone already helps.",
  run: (d) => {
    const root = dacRootLabel(d);
    return root && macDisabled(d) ? [{ at: root, message: "QEMU runs as root and sVirt is off: any guest escape is full control of the host" }] : [];
  },
};

// ---- shared host folders --------------------------------------------------------------------

const filesystemShare: RiskCheck = {
  id: "filesystem-share",
  severity: "high",
  title: "Host folder shared with the guest",
  fix: "Share a dedicated directory, readonly (<readonly/>) when the guest only reads; use accessmode='mapped' for 9p, and never share system directories.",
  run: (d) => devicesNamed(d, "filesystem").flatMap((f): Hit[] => {
    const type = f.attrs.type ?? "mount";
    const src = child(f, "source");
    const ro = isReadonly(f);
    if (type === "block") {
      const dev = src?.attrs.dev ?? "";
      return [{ at: f, severity: ro ? "medium" : "high", message: `host block device ${dev} is mounted into the guest${ro ? " (readonly)" : " writable"}` }];
    }
    if (type !== "mount") return []; // template, ram, file and volume do not expose a host directory
    const dir = src?.attrs.dir ?? src?.attrs.socket ?? "";
    const virtiofs = child(f, "driver")?.attrs.type === "virtiofs" || child(f, "driver")?.attrs.name === "virtiofs";
    const mode = virtiofs ? "passthrough" : (f.attrs.accessmode ?? "passthrough");
    const how = `${virtiofs ? "virtiofs" : "9p"} ${mode}`;
    if (dir && isSensitiveHostDir(dir)) {
      return [ro
        ? { at: f, severity: "medium", message: `host directory ${dir} is shared readonly (${how}): the guest reads host configuration, keys or other guests' data` }
        : { at: f, severity: "critical", message: `host directory ${dir} is shared writable (${how}): the guest can change the host itself` }];
    }
    if (ro) return [{ at: f, severity: "low", message: `host directory ${dir || "(socket)"} is shared readonly (${how})` }];
    if (mode === "passthrough") return [{ at: f, message: `host directory ${dir || "(socket)"} is shared writable with ${how} access: files are created with the guest's uid/gid, so guest root can plant setuid or root-owned files on the host` }];
    return [{ at: f, severity: "medium", message: `host directory ${dir} is shared writable (${how}): the guest can fill or alter host files` }];
  }),
};

// ---- remote display -------------------------------------------------------------------------

/** Where a <graphics> listens: an address, "network:NAME", or undefined for loopback/socket/none. */
function exposedListen(g: XmlElement): string | undefined {
  const listens = children(g, "listen");
  const addrs: string[] = [];
  if (g.attrs.listen) addrs.push(g.attrs.listen);
  for (const l of listens) {
    const t = l.attrs.type ?? "address";
    if (t === "address" && l.attrs.address !== undefined) addrs.push(l.attrs.address);
    if (t === "network") addrs.push(l.attrs.address ?? `network ${l.attrs.network ?? ""}`.trim());
  }
  // No address at all means qemu.conf's vnc_listen/spice_listen, which is 127.0.0.1 by default.
  return addrs.find((a) => a !== "" && !isLoopback(a));
}

const graphicsExposed: RiskCheck = {
  id: "graphics-exposed",
  severity: "high",
  title: "VNC/SPICE reachable from the network",
  fix: "Listen on 127.0.0.1 (or <listen type='socket'/>) and reach the console through SSH or virt-viewer over qemu+ssh://; if it must be remote, use TLS with client certificates.",
  run: (d) => devicesNamed(d, "graphics").filter((g) => ["vnc", "spice", "rdp"].includes(g.attrs.type ?? "")).flatMap((g): Hit[] => {
    const where = exposedListen(g);
    if (where === undefined) return [];
    const kind = (g.attrs.type ?? "").toUpperCase();
    const all = isAnyAddress(where) ? " (all addresses)" : "";
    const ws = g.attrs.websocket !== undefined ? " and a websocket port" : "";
    if (!g.attrs.passwd) return [{ at: g, message: `${kind} listens on ${where}${all}${ws} without a password: anyone who reaches the port gets the guest's screen and keyboard` }];
    return [{
      at: g, severity: "medium",
      message: `${kind} listens on ${where}${all}${ws} with only a password${kind === "VNC" ? " (VNC passwords are 8 characters, DES, easy to brute-force)" : ""}`,
    }];
  }),
};

// ---- disks ----------------------------------------------------------------------------------

const disks = (d: XmlElement): XmlElement[] => devicesNamed(d, "disk");
const diskSource = (e: XmlElement): string => {
  const s = child(e, "source");
  return s?.attrs.file ?? s?.attrs.dev ?? s?.attrs.dir ?? "";
};

const diskShareableWritable: RiskCheck = {
  id: "disk-shareable-writable",
  severity: "medium",
  title: "Writable disk shared between guests",
  fix: "Make the shared disk <readonly/>, or use a cluster filesystem and accept that the guests sharing it are one trust zone.",
  run: (d) => disks(d).filter((e) => child(e, "shareable") && !isReadonly(e)).map((e) => ({
    at: e,
    message: `disk ${diskSource(e) || child(e, "target")?.attrs.dev || ""} is <shareable/> and writable: every guest sharing it can change what the others read, and sVirt gives it a label all guests may access`,
  })),
};

/** Whole host disks and partitions, as opposed to logical volumes made for guests. */
export const HOST_DISK = /^\/dev\/(sd[a-z]+|hd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+|mmcblk\d+|md\d+|dm-\d+|disk\/by-[a-z-]+\/)/;

const diskHostBlock: RiskCheck = {
  id: "disk-host-block",
  severity: "high",
  title: "Host disk or partition given to the guest",
  fix: "Give the guest a logical volume or an image from a storage pool; if the whole disk must be passed, dedicate it to this guest and make sure the host never mounts it.",
  run: (d) => disks(d).filter((e) => e.attrs.type === "block" && HOST_DISK.test(diskSource(e))).map((e): Hit => (isReadonly(e)
    ? { at: e, severity: "medium", message: `host block device ${diskSource(e)} is attached readonly: the guest reads everything on it` }
    : { at: e, message: `host block device ${diskSource(e)} is attached writable: the guest can rewrite a host disk or partition (boot sector, host filesystems)` })),
};

const diskLunRawio: RiskCheck = {
  id: "disk-lun-rawio",
  severity: "high",
  title: "Raw SCSI commands allowed on a LUN",
  fix: "Drop rawio='yes' and sgio='unfiltered' unless the guest runs clustering software that needs them.",
  run: (d) => disks(d).filter((e) => e.attrs.device === "lun" && (e.attrs.rawio === "yes" || e.attrs.sgio === "unfiltered")).map((e) => ({
    at: e,
    message: `LUN ${diskSource(e)} has ${e.attrs.rawio === "yes" ? "rawio='yes' (QEMU gets CAP_SYS_RAWIO)" : "sgio='unfiltered'"}: the guest can send any SCSI command to the host device`,
  })),
};

const diskHostPath: RiskCheck = {
  id: "disk-host-path",
  severity: "high",
  title: "Disk image in a host system or user directory",
  fix: "Keep images in a libvirt storage pool (/var/lib/libvirt/images or a dedicated pool) owned by root.",
  run: (d) => disks(d).filter((e) => e.attrs.type === "file" || e.attrs.type === undefined).flatMap((e): Hit[] => {
    const p = child(e, "source")?.attrs.file ?? "";
    if (!p.startsWith("/")) return [];
    const ro = isReadonly(e) || e.attrs.device === "cdrom"; // a CD-ROM is always readonly
    if (SYSTEM_DIRS.some((s) => under(p, s)) && !under(p, "/var/lib/libvirt") && !under(p, "/dev") && !under(p, "/nix")) {
      return [ro
        ? { at: e, severity: "medium", message: `disk image ${p} lives in a host system directory: libvirt relabels it for the guest, and the guest reads it` }
        : { at: e, message: `writable disk image ${p} lives in a host system directory: the guest writes into host system files and libvirt relabels them` }];
    }
    if (!ro && USER_DIRS.some((s) => under(p, s))) {
      return [{ at: e, severity: "low", message: `writable disk image ${p} lives in a user-writable directory: another local user may replace or symlink it` }];
    }
    return [];
  }),
};

const diskHostDir: RiskCheck = {
  id: "disk-host-dir",
  severity: "medium",
  title: "Host directory exposed as a virtual FAT disk",
  fix: "Copy the files into an image or share a dedicated directory readonly with <filesystem>.",
  run: (d) => disks(d).filter((e) => e.attrs.type === "dir").map((e): Hit => {
    const p = child(e, "source")?.attrs.dir ?? "";
    return isSensitiveHostDir(p)
      ? { at: e, severity: "high", message: `host directory ${p} is exposed to the guest as a disk: its contents, including system files, are readable by the guest` }
      : { at: e, message: `host directory ${p} is exposed to the guest as a virtual FAT disk` };
  }),
};

const diskCacheUnsafe: RiskCheck = {
  id: "disk-cache-unsafe",
  severity: "low",
  title: "Disk cache mode unsafe",
  fix: "Use cache='none' (or the default) for any disk whose data matters.",
  run: (d) => disks(d).filter((e) => child(e, "driver")?.attrs.cache === "unsafe").map((e) => ({
    at: e, message: `disk ${diskSource(e)} ignores flush requests (cache='unsafe'): a host crash corrupts the guest's data, including logs an investigation would need`,
  })),
};

// ---- network interfaces ---------------------------------------------------------------------

const interfaces = (d: XmlElement): XmlElement[] => devicesNamed(d, "interface");

const nicScript: RiskCheck = {
  id: "nic-script",
  severity: "medium",
  title: "Interface runs a host script",
  fix: "Use a libvirt network or bridge instead of a script; if a script is needed, keep it root-owned, not writable by others, and reviewed.",
  run: (d) => interfaces(d).flatMap((e) => children(e, "script").map((s) => ({
    at: s, message: `interface runs ${s.attrs.path ?? "a script"} as root on the host when it starts: whoever can edit the script or the XML gets host root`,
  }))),
};

const nicDirect: RiskCheck = {
  id: "nic-direct",
  severity: "low",
  title: "macvtap interface bypasses the host's firewall",
  fix: "Attach the guest to a bridge or libvirt network so host nftables rules (and hv's quarantine) apply; avoid mode='passthrough'.",
  run: (d) => interfaces(d).filter((e) => e.attrs.type === "direct").map((e): Hit => {
    const src = child(e, "source");
    const mode = src?.attrs.mode ?? "vepa";
    return mode === "passthrough"
      ? { at: e, severity: "medium", message: `host NIC ${src?.attrs.dev ?? ""} is given to the guest (macvtap passthrough): the guest owns the link, can change its MAC and sees all its traffic` }
      : { at: e, message: `macvtap on ${src?.attrs.dev ?? "?"} (mode ${mode}): the guest's traffic skips the host's netfilter, so host firewall rules and quarantine do not apply` };
  }),
};

const nicTrustRxFilters: RiskCheck = {
  id: "nic-trust-guest-rx-filters",
  severity: "medium",
  title: "Guest may change the host-side MAC filter",
  fix: "Remove trustGuestRxFilters='yes' unless the guest needs to change its MAC or multicast lists (e.g. bonding).",
  run: (d) => interfaces(d).filter((e) => e.attrs.trustGuestRxFilters === "yes").map((e) => ({
    at: e, message: "trustGuestRxFilters='yes': the guest can change the MAC address and receive filters on the host device, i.e. spoof other machines on the LAN",
  })),
};

const nicNoFilter: RiskCheck = {
  id: "nic-no-filter",
  severity: "low",
  title: "Bridged interface without anti-spoofing filter",
  fix: "Add <filterref filter='clean-traffic'/> (with <parameter name='IP' …/> when the guest has a fixed address).",
  run: (d) => interfaces(d).filter((e) => e.attrs.type === "bridge" && !child(e, "filterref")).map((e) => ({
    at: e, message: `bridged interface on ${child(e, "source")?.attrs.bridge ?? "?"} has no <filterref>: the guest can spoof MAC, IP and ARP on the bridge`,
  })),
};

// ---- hypervisor features and firmware -------------------------------------------------------

const features = (d: XmlElement): XmlElement | undefined => child(d, "features");

const hypervisorHidden: RiskCheck = {
  id: "hypervisor-hidden",
  severity: "info",
  title: "Hypervisor hidden from the guest",
  fix: "Remove <kvm><hidden state='on'/> and the Hyper-V vendor_id unless a driver refuses to run in a VM.",
  run: (d) => {
    const f = features(d);
    const hidden = child(child(f, "kvm"), "hidden");
    const vendor = child(child(f, "hyperv"), "vendor_id");
    const hits: Hit[] = [];
    if (hidden?.attrs.state === "on") hits.push({ at: hidden, message: "the KVM signature is hidden: software in the guest cannot tell it runs in a VM (often paired with GPU passthrough)" });
    if (vendor?.attrs.state === "on") hits.push({ at: vendor, message: `the Hyper-V vendor id is spoofed (${vendor.attrs.value ?? ""})` });
    return hits;
  },
};

function isEfi(d: XmlElement): boolean {
  const os = child(d, "os");
  const loader = child(os, "loader");
  return os?.attrs.firmware === "efi" || loader?.attrs.type === "pflash" || /ovmf|edk2|aavmf|qemu_efi/i.test(loader?.text ?? "");
}

function secureBootOn(d: XmlElement): boolean {
  const os = child(d, "os");
  const loader = child(os, "loader");
  const feature = children(child(os, "firmware"), "feature").find((f) => f.attrs.name === "secure-boot");
  if (feature) return feature.attrs.enabled === "yes";
  return loader?.attrs.secure === "yes" || /secboot|\.ms\.fd|\.secure\./i.test(loader?.text ?? "");
}

const firmwareNoSecureBoot: RiskCheck = {
  id: "firmware-no-secure-boot",
  severity: "info",
  title: "UEFI without Secure Boot",
  fix: "Use a Secure Boot firmware (<firmware><feature enabled='yes' name='secure-boot'/></firmware>) with enrolled keys if the guest OS supports it.",
  run: (d) => (isEfi(d) && !secureBootOn(d) ? [{ at: child(d, "os") ?? d, message: "UEFI firmware without Secure Boot: the guest's boot chain is not verified (bootkits survive reinstalls of the OS)" }] : []),
};

const secureBootNoSmm: RiskCheck = {
  id: "secure-boot-no-smm",
  severity: "medium",
  title: "Secure Boot without SMM",
  fix: "Set <features><smm state='on'/></features>; OVMF's secure-boot build needs it to protect its variable store.",
  run: (d) => {
    const smm = child(features(d), "smm");
    const arch = child(child(d, "os"), "type")?.attrs.arch ?? "x86_64";
    return isEfi(d) && secureBootOn(d) && smm?.attrs.state === "off" && /^(x86_64|i686)$/.test(arch)
      ? [{ at: smm, message: "Secure Boot is on but SMM is off: the guest OS can write the UEFI variable store directly and disable Secure Boot" }]
      : [];
  },
};

// ---- memory ---------------------------------------------------------------------------------

const memoryShared: RiskCheck = {
  id: "memory-shared-file",
  severity: "low",
  title: "Guest RAM in a shared host file",
  fix: "Keep shared memory only for vhost-user/virtiofs; prefer <source type='memfd'/> so no path on the host maps guest RAM.",
  run: (d) => {
    const mb = child(d, "memoryBacking");
    const src = child(mb, "source");
    const shared = child(mb, "access")?.attrs.mode === "shared" || descendants(d, "cell").some((c) => c.attrs.memAccess === "shared");
    return src?.attrs.type === "file" && shared
      ? [{ at: src, message: "guest RAM is a shared mapping of a host file: any process that can open it reads and writes the guest's memory" }]
      : [];
  },
};

const shmemDevice: RiskCheck = {
  id: "shmem-device",
  severity: "medium",
  title: "Shared memory device (ivshmem)",
  fix: "Remove the <shmem> unless guests must share memory; guests sharing a region are one trust zone.",
  run: (d) => devicesNamed(d, "shmem").map((s) => ({
    at: s, message: `shared memory region '${s.attrs.name ?? ""}'${child(s, "server") ? ` with a doorbell server (${child(s, "server")?.attrs.path ?? ""})` : ""}: every guest or host process mapping it can read and change the others' data`,
  })),
};

// ---- USB redirection, character devices, input, TPM -----------------------------------------

const usbRedirection: RiskCheck = {
  id: "usb-redirection",
  severity: "low",
  title: "USB redirection",
  fix: "Remove <redirdev> when remote USB is not needed, or restrict devices with <redirfilter>.",
  run: (d) => {
    const all = devicesNamed(d, "redirdev");
    const network = all.filter((r) => r.attrs.type === "tcp" || r.attrs.type === "udp");
    const local = all.filter((r) => !network.includes(r));
    const hits: Hit[] = network.map((r) => {
      const s = child(r, "source");
      return { at: r, severity: "medium", message: `USB devices arrive over ${r.attrs.type} ${s?.attrs.host ?? ""}:${s?.attrs.service ?? ""}: whoever controls that endpoint plugs devices into the guest, through QEMU's usbredir parser` };
    });
    // virt-manager adds two spicevmc channels to every guest: one finding for them all.
    if (local.length > 0) {
      const filtered = devicesNamed(d, "redirfilter").length > 0;
      const kinds = [...new Set(local.map((r) => r.attrs.type ?? "?"))].join("/");
      hits.push({ at: local[0]!, message: `${local.length} USB redirection channel${local.length > 1 ? "s" : ""} over ${kinds}${filtered ? " (limited by <redirfilter>)" : ": a display client can plug any USB device into the guest"}` });
    }
    return hits;
  },
};

const CHARDEVS = ["serial", "parallel", "channel", "console", "smartcard"];

/** Serial, parallel, channel, console and smartcard backends that reach host resources. */
const chardevHost: RiskCheck = {
  id: "chardev-host",
  severity: "high",
  title: "Character device exposes a host resource",
  fix: "Use type='pty' or a UNIX socket under libvirt's control; if TCP is needed, bind to 127.0.0.1 and use tls='yes'.",
  run: (d) => {
    const seen = new Set<string>();
    const hits: Hit[] = [];
    for (const c of devicesNamed(d, ...CHARDEVS)) {
      const type = c.attrs.type ?? "";
      const sources = children(c, "source");
      // In live XML the first <console> repeats <serial>; report the backend once.
      const key = `${type} ${sources.map((s) => JSON.stringify(s.attrs)).join(" ")}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const hit = chardevHit(c, type, sources);
      if (hit) hits.push(hit);
    }
    return hits;
  },
};

function chardevHit(c: XmlElement, type: string, sources: XmlElement[]): Hit | undefined {
  const what = c.name === "channel" ? `channel ${child(c, "target")?.attrs.name ?? ""}`.trim() : c.name;
  if (type === "tcp" || type === "udp") {
    // mode defaults to "connect": only an explicit bind makes QEMU listen.
    const bind = sources.find((s) => s.attrs.mode === "bind");
    if (bind) {
      const host = bind.attrs.host ?? "";
      const tls = bind.attrs.tls === "yes";
      if (host === "" || !isLoopback(host)) {
        const console = c.name === "serial" || c.name === "console" ? " (often a root login)" : "";
        return { at: c, message: `${what} listens on ${type} ${host || "all addresses"}:${bind.attrs.service ?? ""}${tls ? " (TLS)" : " without authentication"}: anyone who reaches the port talks to the guest's ${what}${console}`, ...(tls ? { severity: "medium" as RiskSeverity } : {}) };
      }
      return { at: c, severity: "low", message: `${what} listens on ${type} ${host}:${bind.attrs.service ?? ""}: any local user can connect to it` };
    }
    const conn = sources[0];
    if (!conn?.attrs.host) return undefined;
    return { at: c, severity: "low", message: `${what} connects over ${type} to ${conn?.attrs.host ?? "?"}:${conn?.attrs.service ?? "?"}: the guest's ${what} data leaves the host unencrypted` };
  }
  if (type === "dev") return { at: c, severity: "medium", message: `host device ${sources[0]?.attrs.path ?? ""} is connected to the guest's ${what}` };
  if (type === "pipe") return { at: c, severity: "low", message: `${what} is a host named pipe ${sources[0]?.attrs.path ?? ""}: whoever can open it reads or writes the guest's ${what}` };
  return undefined;
}

const inputPassthrough: RiskCheck = {
  id: "input-passthrough",
  severity: "medium",
  title: "Host input device passed to the guest",
  fix: "Remove the evdev/passthrough <input> unless this is a single-user desktop host.",
  run: (d) => devicesNamed(d, "input").filter((i) => i.attrs.type === "passthrough" || i.attrs.type === "evdev").map((i) => {
    const s = child(i, "source");
    return { at: i, message: `host input device ${s?.attrs.evdev ?? s?.attrs.dev ?? ""} feeds the guest: keystrokes typed on the host (passwords included) can reach it` };
  }),
};

const tpmPassthrough: RiskCheck = {
  id: "tpm-passthrough",
  severity: "high",
  title: "Host TPM passed through",
  fix: "Use an emulated TPM (<backend type='emulator' version='2.0'/>), which gives each guest its own.",
  run: (d) => devicesNamed(d, "tpm").filter((t) => child(t, "backend")?.attrs.type === "passthrough").map((t) => ({
    at: t, message: `the host's TPM ${child(child(t, "backend"), "device")?.attrs.path ?? ""} is given to the guest: it can extend PCRs and use keys the host's measured boot and disk encryption rely on`,
  })),
};

// ---- crash handling, guest agent, emulator, machine type ------------------------------------

const guestAgent: RiskCheck = {
  id: "guest-agent",
  severity: "info",
  title: "QEMU guest agent channel",
  fix: "Keep it if you use it; otherwise remove the channel. Either way, limit who may call virsh qemu-agent-command.",
  run: (d) => devicesNamed(d, "channel").filter((c) => child(c, "target")?.attrs.name === "org.qemu.guest_agent.0").map((c) => ({
    at: c, message: "guest agent channel: anyone with libvirt write access can run commands and read files inside the guest (guest-exec, guest-file-open)",
  })),
};

const watchdogNone: RiskCheck = {
  id: "watchdog-action-none",
  severity: "info",
  title: "Watchdog does nothing",
  fix: "Use action='reset' (or 'dump' to keep evidence) so a hung guest is noticed.",
  run: (d) => devicesNamed(d, "watchdog").filter((w) => w.attrs.action === "none").map((w) => ({ at: w, message: "the watchdog fires into nothing: a hung or tampered guest goes unnoticed" })),
};

const onCrash: RiskCheck = {
  id: "on-crash",
  severity: "info",
  title: "Crash handling keeps guest memory",
  fix: "Use on_crash destroy or restart unless you collect crash dumps on purpose; store dumps where only root can read them.",
  run: (d) => {
    const e = child(d, "on_crash");
    const v = e?.text ?? "";
    if (!e) return [];
    if (v.startsWith("coredump")) return [{ at: e, severity: "low", message: `on_crash ${v}: the guest's whole memory (keys, passwords) is written to a file on the host` }];
    if (v === "preserve") return [{ at: e, message: "on_crash preserve: a crashed guest stays allocated with its memory intact until someone destroys it" }];
    return [];
  },
};

const SYSTEM_EMULATOR_DIRS = ["/usr/bin", "/usr/libexec", "/usr/lib", "/usr/lib64", "/usr/sbin", "/bin", "/sbin", "/nix/store", "/run/current-system", "/run/libvirt/nix-emulators"];

const emulatorPath: RiskCheck = {
  id: "emulator-path",
  severity: "medium",
  title: "Emulator is not a system QEMU",
  fix: "Use the distribution's QEMU (on NixOS the one libvirtd provides under /run/libvirt/nix-emulators).",
  run: (d) => {
    const e = child(child(d, "devices"), "emulator");
    const p = e?.text ?? "";
    if (!e || !p.startsWith("/") || SYSTEM_EMULATOR_DIRS.some((s) => under(p, s))) return [];
    if (USER_DIRS.some((s) => under(p, s)) || under(p, "/var/tmp")) return [{ at: e, severity: "high", message: `emulator ${p} is in a user-writable directory: whoever can replace it runs code with access to the guest's disks` }];
    if (under(p, "/usr/local") || under(p, "/opt")) return [{ at: e, severity: "low", message: `emulator ${p} is a locally installed QEMU: it does not get the distribution's security updates` }];
    return [{ at: e, message: `emulator ${p} is not a packaged QEMU: check who can write it and whether it is patched` }];
  },
};

/** QEMU machine types versioned before 5.0 (2020): legacy devices and behaviour kept for compatibility. */
export function oldMachineVersion(machine: string): string | undefined {
  const m = /^(?:pc-i440fx-|pc-q35-|pc-|pseries-|virt-|s390-ccw-virtio-)(\d+)\.(\d+)/.exec(machine);
  return m && Number(m[1]) < 5 ? `${m[1]}.${m[2]}` : undefined;
}

const machineTypeOld: RiskCheck = {
  id: "machine-type-old",
  severity: "info",
  title: "Old machine type",
  fix: "Move the guest to a current machine type (e.g. q35 or the newest pc-q35-X.Y) in a maintenance window.",
  run: (d) => {
    const t = child(child(d, "os"), "type");
    const v = oldMachineVersion(t?.attrs.machine ?? "");
    return t && v ? [{ at: t, message: `machine type ${t.attrs.machine} (QEMU ${v}) keeps legacy devices and defaults, and new QEMU releases drop such types` }] : [];
  },
};

/** Every check, in the order the documentation lists them. */
export const CHECKS: readonly RiskCheck[] = [
  unconfinedRoot, seclabelNone, dacRoot, seclabelRelabelOff, seclabelMissing,
  hostdevPci, hostdevUsb, hostdevScsi, hostdevOther,
  qemuCommandline, qemuOverrides,
  filesystemShare, graphicsExposed,
  diskShareableWritable, diskHostBlock, diskLunRawio, diskHostPath, diskHostDir, diskCacheUnsafe,
  nicScript, nicDirect, nicTrustRxFilters, nicNoFilter,
  chardevHost, usbRedirection, inputPassthrough, tpmPassthrough, shmemDevice, memoryShared,
  hypervisorHidden, firmwareNoSecureBoot, secureBootNoSmm,
  guestAgent, watchdogNone, onCrash, emulatorPath, machineTypeOld,
];
