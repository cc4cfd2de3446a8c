// VM attribution: sets vm.name / vm.uuid on events that belong to a libvirt domain, which is what
// lets a detection say "this happened in web1" rather than "some qemu process did something".
//
// Audit events: the process is a domain's qemu, or descends from one. In order of trust:
//   - libvirtd's own VIRT_* records name the VM (vm=, uuid=);
//   - an execve of qemu carries `-name guest=NAME,…` and `-uuid UUID` on its command line;
//   - the inventory's qemu pid, and the VM label of the process table
//     (src/collectors/audit/proctable.ts), which the two above set and children inherit;
//   - the parent chain (event.process.ppid, then the process table's ppids) up to one of those;
//   - qemu's proctitle (`-name guest=` comes early, within the kernel's 128-byte title);
//   - when live, the process's cgroup: /machine/qemu-N-NAME.libvirt-qemu (libvirt without systemd)
//     or machine-qemu\x2dN\x2dNAME.scope (with systemd).
// Flow events (module "flow"): by tap, MAC or address (src/collectors/flows/attribution.ts).

import { readFileSync } from "node:fs";
import { forkedChild, ProcessTable } from "../collectors/audit/proctable.js";
import { flowAttribution } from "../collectors/flows/attribution.js";
import type { HvEvent, VmFields } from "../events/event.js";
import type { Inventory, VmRecord } from "../events/inventory.js";

export interface AttributionOptions {
  /**
   * The audit decoder's process table, which has learned from each event just before attribution
   * sees it. Without one (a lone attribution: tests, replays of decoded events) attribution keeps
   * a table of its own and feeds it itself.
   */
  processes?: ProcessTable;
  /** Read /proc/PID/cgroup for processes not found otherwise (only for events happening now). */
  live?: boolean;
  /** Replaces the /proc read (tests, another proc root). */
  readCgroup?: (pid: number) => string | undefined;
  /** Bound on remembered pids. */
  capacity?: number;
}

export function createAttribution(inventory: Inventory, opts: AttributionOptions = {}): (event: HvEvent) => void {
  const flow = flowAttribution(inventory);
  const capacity = opts.capacity ?? 65_536;
  const table = opts.processes ?? new ProcessTable(capacity);
  const feedsTable = opts.processes === undefined;
  // pid → what its cgroup said (null: not a VM), so /proc is read once per process.
  const cgroups = new Map<number, VmFields | null>();
  const readCgroup = opts.readCgroup ?? (opts.live ? readProcCgroup : undefined);

  const remember = <V>(map: Map<number, V>, pid: number, value: V): void => {
    map.delete(pid);
    map.set(pid, value);
    if (map.size > capacity) map.delete(map.keys().next().value as number);
  };

  const fromRecord = (r: VmRecord | undefined): VmFields | undefined => (r ? { name: r.name, uuid: r.uuid } : undefined);

  /** A name and/or uuid from some source, completed from the inventory. */
  const resolve = (name: string | undefined, uuid: string | undefined): VmFields | undefined => {
    const rec = (uuid ? inventory.byUuid(uuid) : undefined) ?? (name ? inventory.byName(name) : undefined);
    if (rec) return fromRecord(rec);
    if (!name && !uuid) return undefined;
    const vm: VmFields = {};
    if (name) vm.name = name;
    if (uuid) vm.uuid = uuid;
    return vm;
  };

  const byPid = (pid: number): VmFields | undefined => table.labels(pid)?.vm ?? fromRecord(inventory.byPid(pid));

  const byCgroup = (pid: number): VmFields | undefined => {
    if (!readCgroup) return undefined;
    let vm = cgroups.get(pid);
    if (vm === undefined) {
      const text = readCgroup(pid);
      if (text === undefined) return undefined; // gone already: nothing learned, nothing cached
      const name = machineNameFromCgroup(text);
      vm = name === undefined ? null : (fromRecord(findMachine(inventory, name)) ?? null);
      remember(cgroups, pid, vm);
    }
    return vm ?? undefined;
  };

  const audit = (event: HvEvent): void => {
    // The table already knows an exec or fork of this event as a new process, with its parent's labels.
    if (feedsTable) table.enrich(event);
    const proc = event.process;
    const pid = proc?.pid;
    // A pid that execs or is newly forked is a new process: its cgroup is read again.
    if (pid !== undefined && (event.event.action === "execve" || event.event.action === "execveat")) cgroups.delete(pid);
    const child = forkedChild(event);
    if (child !== undefined) cgroups.delete(child);

    let vm = virtRecordVm(event, resolve);
    if (!vm && proc && pid !== undefined) {
      const qemu = isQemu(proc.executable ?? proc.args?.[0]) ? qemuIdentity(proc.args ?? []) : undefined;
      if (qemu && event.event.outcome !== "failure") vm = resolve(qemu.name, qemu.uuid);
      vm ??= firstOf(table.lineage(pid, proc.ppid), byPid);
      if (!vm && proc.title && isQemu(proc.title.split(" ")[0])) {
        const id = qemuIdentity(proc.title.split(" "));
        vm = resolve(id.name, id.uuid);
      }
      vm ??= byCgroup(pid);
      if (vm) table.label(pid, { vm }, event["@timestamp"]);
    }
    if (vm && child !== undefined) table.label(child, { vm }, event["@timestamp"]);
    if (vm) event.vm = { ...event.vm, ...vm };
  };

  const libvirt = (event: HvEvent): void => {
    // A stopped domain's qemu pids are about to be reused by anything: forget them.
    const name = event.vm?.name;
    if (!name || !["stopped", "crashed", "undefined"].includes(event.event.action)) return;
    table.forgetVm(name);
    for (const [pid, vm] of cgroups) if (vm?.name === name) cgroups.delete(pid);
  };

  return (event) => {
    switch (event.event.module) {
      case "audit":
        return audit(event);
      case "flow":
        return event.vm?.name ? undefined : flow(event);
      case "libvirt":
        return libvirt(event);
      default:
        return undefined;
    }
  };
}

/** libvirtd's VIRT_CONTROL / VIRT_RESOURCE / VIRT_MACHINE_ID records carry vm="NAME" uuid=UUID. */
function virtRecordVm(event: HvEvent, resolve: (n?: string, u?: string) => VmFields | undefined): VmFields | undefined {
  const rec = event.audit?.records.find((r) => r.type.startsWith("VIRT_") && (r.fields.vm || r.fields.uuid));
  if (!rec) return undefined;
  const name = rec.fields.vm ?? undefined;
  const uuid = rec.fields.uuid ?? undefined;
  return resolve(name && name !== "?" ? name : undefined, uuid && uuid !== "?" ? uuid : undefined);
}

/** The first pid of a lineage that names a VM. */
function firstOf(lineage: Iterable<number>, byPid: (pid: number) => VmFields | undefined): VmFields | undefined {
  for (const p of lineage) {
    const vm = byPid(p);
    if (vm) return vm;
  }
  return undefined;
}

export function isQemu(executable: string | undefined): boolean {
  const base = executable?.split("/").pop() ?? "";
  return /^qemu-system-|^qemu-kvm$|^kvm$/.test(base);
}

/**
 * The domain name and uuid from qemu's arguments: `-name guest=NAME,debug-threads=on` (or the
 * old `-name NAME`; QEMU writes a comma inside a value as ",,") and `-uuid UUID`.
 */
export function qemuIdentity(args: readonly string[]): { name?: string; uuid?: string } {
  const out: { name?: string; uuid?: string } = {};
  for (let i = 0; i < args.length - 1; i++) {
    const a = args[i];
    const v = args[i + 1]!;
    if (a === "-uuid" || a === "--uuid") out.uuid = v.toLowerCase();
    if (a === "-name" || a === "--name") {
      const parts = v.split(/(?<!,),(?!,)/).map((s) => s.replace(/,,/g, ","));
      const guest = parts.find((s) => s.startsWith("guest="));
      out.name = guest ? guest.slice(6) : parts[0]!.includes("=") ? undefined : parts[0];
    }
  }
  return out;
}

/** "qemu-3-web1" from a /proc/PID/cgroup text, or undefined when the process is in no VM's cgroup. */
export function machineNameFromCgroup(text: string): string | undefined {
  for (const line of text.split("\n")) {
    const path = line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
    const scope = /machine-(qemu\\x2d.+?)\.scope/.exec(path);
    if (scope) return scope[1]!.replace(/\\x([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    const plain = /\/machine\/(qemu-\d+-.+?)\.libvirt-qemu(?:\/|$)/.exec(path);
    if (plain) return plain[1]!;
  }
  return undefined;
}

/**
 * The domain of machine name "qemu-ID-NAME". libvirt drops characters outside [A-Za-z0-9_.-]
 * from NAME and shortens it, so compare the same way and accept a prefix.
 */
export function findMachine(inventory: Inventory, machine: string): VmRecord | undefined {
  const m = /^qemu-\d+-(.+)$/.exec(machine);
  if (!m) return undefined;
  const name = m[1]!;
  const exact = inventory.byName(name);
  if (exact) return exact;
  const clean = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, "");
  const matches = inventory.all().filter((r) => r.state !== "shut off" && clean(r.name).startsWith(name));
  return matches.length === 1 ? matches[0] : undefined;
}

function readProcCgroup(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return undefined;
  }
}
