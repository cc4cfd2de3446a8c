// The one interface hv uses to manage VMs, networks and storage. The CLI and playbook actions
// both go through it; virsh.ts implements it with `virsh` (DESIGN.md says why not a binding).
// Every method throws LibvirtError (src/events/libvirt-error.ts) on failure; names are checked before any call.
import type { InterfaceRow } from "../events/virsh.js";

export type DomainState = "running" | "idle" | "paused" | "in shutdown" | "shut off" | "crashed" | "pmsuspended" | "dying" | "blocked" | "unknown";

export interface DomainSummary {
  name: string;
  /** Present while running. */
  id?: number;
  state: DomainState;
}

export interface DomainInfo {
  name: string;
  uuid: string;
  id?: number;
  state: DomainState;
  /** Why the domain is in its state, e.g. "booted", "user", "destroyed". */
  stateReason?: string;
  osType: string;
  vcpus: number;
  maxMemoryBytes: number;
  usedMemoryBytes: number;
  cpuTimeSeconds?: number;
  persistent: boolean;
  autostart: boolean;
  managedSave: boolean;
  securityModel?: string;
}

export interface SnapshotInfo {
  name: string;
  /** ISO time. */
  createdAt: string;
  /** Domain state captured: running, shutoff, paused, disk-snapshot. */
  state: string;
  parent?: string;
  description?: string;
  current: boolean;
  /** internal (inside qcow2) or external (overlay files, disk-only). */
  location: "internal" | "external";
}

export interface SnapshotOptions {
  diskOnly?: boolean;
  description?: string;
}

export interface BlockStats {
  name: string;
  path?: string;
  readBytes: number;
  writeBytes: number;
  readRequests: number;
  writeRequests: number;
  capacityBytes?: number;
  allocationBytes?: number;
}

export interface InterfaceStats {
  name: string;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  rxErrors: number;
  txErrors: number;
  rxDrops: number;
  txDrops: number;
}

export interface DomainStats {
  name: string;
  state: DomainState;
  cpu: { timeNs: number; userNs?: number; systemNs?: number };
  vcpus: { current?: number; maximum?: number };
  memory: { currentBytes?: number; maximumBytes?: number; rssBytes?: number; availableBytes?: number; unusedBytes?: number };
  blocks: BlockStats[];
  interfaces: InterfaceStats[];
  /** Every field virsh printed, unchanged. */
  raw: Record<string, string>;
}

/** Where a change applies: the running guest, the stored definition, or both. */
export type ChangeScope = "live" | "config" | "both";

export interface NetworkSummary {
  name: string;
  active: boolean;
  autostart: boolean;
  persistent: boolean;
}

export interface DhcpLease {
  expiry: string;
  mac: string;
  protocol: string;
  address: string;
  hostname?: string;
  clientId?: string;
}

export interface PoolSummary {
  name: string;
  state: string;
  autostart: boolean;
  persistent: boolean;
  capacityBytes?: number;
  allocationBytes?: number;
  availableBytes?: number;
}

export interface VolumeSummary {
  name: string;
  path: string;
  type?: string;
  capacityBytes?: number;
  allocationBytes?: number;
}

/** One row of `virsh domblklist --details`. */
export interface BlockDeviceRow {
  /** file, block, network, volume, … */
  type: string;
  /** disk, cdrom, floppy, lun */
  device: string;
  target: string;
  /** Absent for an empty cdrom ("-"). */
  source?: string;
}

// One row of `virsh domiflist` (the parser is shared with the libvirt collector).
export type { InterfaceRow };

export interface MigrateOptions {
  /** Move it while it runs (otherwise only the definition moves: --offline). */
  live?: boolean;
  /** Copy every disk to the destination as part of the migration (--copy-storage-all). */
  copyStorage?: boolean;
  /** Where qemu sends the data (tcp://HOST[:PORT]), when it is not the host in the destination URI. */
  migrateUri?: string;
  /** The source libvirtd connects to the destination itself (--p2p): the client need not reach it. */
  p2p?: boolean;
}

/** `virsh domjobinfo`, the fields hv shows (bytes; absent when libvirt does not report them). */
export interface JobInfo {
  /** None, Bounded, Unbounded, Completed, Failed, Cancelled. */
  type: string;
  operation?: string;
  elapsedMs?: number;
  dataTotal?: number;
  dataProcessed?: number;
  dataRemaining?: number;
  memoryTotal?: number;
  memoryProcessed?: number;
  memoryRemaining?: number;
  /** Bytes per second. */
  memoryBandwidth?: number;
  iteration?: number;
  downtimeMs?: number;
}

/** How one disk takes part in a disk-only snapshot: a new overlay file, or left out. */
export interface DiskSnapshotSpec {
  target: string;
  /** The new overlay (external); omit to leave this disk out of the snapshot. */
  overlay?: string;
}

export interface LibvirtBackend {
  /** The connection URI, e.g. qemu:///system. */
  readonly uri: string;

  // domains
  listDomains(opts?: { all?: boolean }): Promise<DomainSummary[]>;
  domainInfo(name: string): Promise<DomainInfo>;
  domainState(name: string): Promise<DomainState>;
  /** The definition; `inactive` gives the stored (next boot) one instead of the live one. */
  dumpXml(name: string, opts?: { inactive?: boolean; secure?: boolean }): Promise<string>;
  /** Defines (or redefines) a domain; libvirt validates against its schema first. Returns the name. */
  define(xml: string): Promise<string>;
  /** Undefines, including snapshot/checkpoint metadata, managed save and nvram. */
  undefine(name: string, opts?: { removeAllStorage?: boolean }): Promise<void>;
  start(name: string, opts?: { paused?: boolean }): Promise<void>;
  /** Asks the guest to power off (ACPI); returns at once. */
  shutdown(name: string): Promise<void>;
  /** Pulls the plug. */
  destroy(name: string): Promise<void>;
  reboot(name: string): Promise<void>;
  reset(name: string): Promise<void>;
  suspend(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  save(name: string, file: string): Promise<void>;
  restore(file: string): Promise<void>;
  setAutostart(name: string, enabled: boolean): Promise<void>;
  /** Runs `virsh console` on the caller's terminal; resolves with virsh's exit code. */
  console(name: string): Promise<number>;
  setVcpus(name: string, count: number, scope: ChangeScope): Promise<void>;
  setMemory(name: string, bytes: number, scope: ChangeScope): Promise<void>;
  /** Attaches a device from its XML (a <disk>, an <interface>, …). */
  attachDevice(name: string, deviceXml: string, scope: ChangeScope): Promise<void>;
  detachDevice(name: string, deviceXml: string, scope: ChangeScope): Promise<void>;
  detachDisk(name: string, target: string, scope: ChangeScope): Promise<void>;
  detachInterface(name: string, type: string, mac: string, scope: ChangeScope): Promise<void>;
  /** Grows a disk of a running domain. */
  blockResize(name: string, target: string, bytes: number): Promise<void>;
  domainStats(name: string): Promise<DomainStats>;
  migrate(name: string, destUri: string, opts?: MigrateOptions): Promise<void>;
  /** `virsh domjobinfo` of the job running on the domain (a migration, a dump…), or of the last completed one. */
  domJobInfo(name: string, opts?: { completed?: boolean }): Promise<JobInfo | undefined>;

  // snapshots
  snapshotCreate(name: string, snapshot: string, opts?: SnapshotOptions): Promise<void>;
  snapshotList(name: string): Promise<SnapshotInfo[]>;
  snapshotRevert(name: string, snapshot: string): Promise<void>;
  /** `metadataOnly`: forget the snapshot, leave its data (for external snapshots libvirt cannot merge). */
  snapshotDelete(name: string, snapshot: string, opts?: { metadataOnly?: boolean }): Promise<void>;

  // forensics (additions for src/forensics)
  /** `virsh dump --memory-only`: the guest's RAM as an ELF core (or kdump) file; `live` keeps the guest running. */
  dumpMemory(name: string, file: string, opts?: { live?: boolean; format?: "elf" | "kdump-zlib" | "kdump-lzo" | "kdump-snappy" }): Promise<void>;
  domBlkList(name: string, opts?: { inactive?: boolean }): Promise<BlockDeviceRow[]>;
  domIfList(name: string, opts?: { inactive?: boolean }): Promise<InterfaceRow[]>;
  /**
   * An external disk-only snapshot without libvirt metadata, all disks at once (--atomic): each
   * spec with an overlay gets that new file on top; the old image becomes its read-only backing.
   * `quiesce`: the guest agent freezes the guest's file systems around it (fails if it does not answer).
   */
  diskSnapshotNoMetadata(name: string, specs: DiskSnapshotSpec[], opts?: { quiesce?: boolean }): Promise<void>;
  /**
   * Merges the active overlay of `target` into its immediate backing file and pivots the guest
   * onto that file (blockcommit --active --shallow --pivot --wait). --shallow matters: without it
   * libvirt commits into the deepest base of the chain — a shared base image.
   */
  blockCommitActive(name: string, target: string): Promise<void>;
  /** The block job running on `target`, or undefined. */
  blockJobInfo(name: string, target: string): Promise<{ type: string; percent?: number } | undefined>;
  /** Cancels the block job on `target` (with `pivot`: completes a ready commit/copy by pivoting). */
  blockJobAbort(name: string, target: string, opts?: { pivot?: boolean }): Promise<void>;
  /** `virsh version`: library, API and hypervisor versions (keys as virsh prints them). */
  versions(): Promise<Record<string, string>>;

  // networks
  listNetworks(): Promise<NetworkSummary[]>;
  networkXml(name: string, opts?: { inactive?: boolean }): Promise<string>;
  defineNetwork(xml: string): Promise<string>;
  startNetwork(name: string): Promise<void>;
  stopNetwork(name: string): Promise<void>;
  undefineNetwork(name: string): Promise<void>;
  setNetworkAutostart(name: string, enabled: boolean): Promise<void>;
  networkLeases(name: string): Promise<DhcpLease[]>;

  // storage pools and volumes
  listPools(): Promise<PoolSummary[]>;
  poolXml(name: string): Promise<string>;
  definePool(xml: string): Promise<string>;
  /** Creates the pool's target (a directory for `dir` pools). */
  buildPool(name: string): Promise<void>;
  startPool(name: string): Promise<void>;
  stopPool(name: string): Promise<void>;
  /** Removes the pool's target from disk (it must be empty). */
  deletePool(name: string): Promise<void>;
  undefinePool(name: string): Promise<void>;
  setPoolAutostart(name: string, enabled: boolean): Promise<void>;
  refreshPool(name: string): Promise<void>;
  listVolumes(pool: string): Promise<VolumeSummary[]>;
  volumeXml(pool: string, volume: string): Promise<string>;
  createVolume(pool: string, xml: string): Promise<string>;
  deleteVolume(pool: string, volume: string): Promise<void>;
  resizeVolume(pool: string, volume: string, bytes: number): Promise<void>;
  /** Copies a local file into an existing volume. */
  uploadVolume(pool: string, volume: string, file: string): Promise<void>;
  /** The pool and volume name of a file path, if some pool holds it. */
  volumeByPath(path: string): Promise<{ pool: string; volume: string } | undefined>;
}
