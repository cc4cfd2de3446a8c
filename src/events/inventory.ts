// The VMs of this host as the agent knows them: the libvirt collector keeps it current, VM
// attribution reads it (audit events by qemu pid, flows by tap device, MAC or IP). The same
// shape is what `--inventory VMS.json` files hold when replaying without libvirt.

export interface VmInterface {
  /** Host-side device, e.g. vnet3. */
  tap?: string;
  mac?: string;
  /** Guest addresses from domifaddr or DHCP leases. */
  ips?: string[];
  /** The single address form of inventory files; read as ips: [ip]. */
  ip?: string;
  network?: string;
  bridge?: string;
}

export interface VmRecord {
  name: string;
  uuid: string;
  state?: string;
  /** The qemu process of a running domain. */
  qemuPid?: number;
  interfaces: VmInterface[];
}

export interface Inventory {
  all(): VmRecord[];
  byName(name: string): VmRecord | undefined;
  byUuid(uuid: string): VmRecord | undefined;
  byPid(pid: number): VmRecord | undefined;
  byTap(device: string): VmRecord | undefined;
  byMac(mac: string): VmRecord | undefined;
  byIp(ip: string): VmRecord | undefined;
}
