// VM attribution on real audit events of a real domain's qemu: auditd records qemu's execve (an
// execve rule on the qemu binary) and qemu opening the guest's disk image (a watch on the file);
// hv's decoder and process table turn them into events, and attribution must name the domain.
// Then the other paths on the same real process: the inventory's qemu pid, a child through the
// process table, and the cgroup libvirt put qemu in.

import { describe, it, expect } from "vitest";
import { execa } from "execa";
import { chmod, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { createAttribution } from "../../src/agent/attribution.js";
import { AuditDecoder } from "../../src/collectors/audit/decoder.js";
import { ProcessTable } from "../../src/collectors/audit/proctable.js";
import { readUnixSocketLines, type SocketStatus } from "../../src/collectors/audit/sources/socket.js";
import { InventoryIndex, LibvirtInventory } from "../../src/collectors/libvirt/inventory.js";
import type { HvEvent } from "../../src/events/event.js";
import { auditctl, startAuditdWhenFree, whyNoAuditd } from "../helpers/auditd.js";
import { makeEvent } from "../helpers/events.js";
import { ensureLibvirtd, libvirtSkipReason, removeDomain, URI, virsh, waitFor } from "../helpers/libvirt.js";

const inCI = process.env.CI === "true";
const noAuditd = await whyNoAuditd();
if (noAuditd) {
  if (inCI) throw new Error(`auditd is required under CI=true: ${noAuditd}`);
  console.warn(`\n*** SKIPPING attribution integration test (auditd + libvirt): ${noAuditd} ***\n`);
}
const unavailable = noAuditd ?? libvirtSkipReason(); // loud skip; throws under CI=true



/** An audit event of `pid` with nothing else that could name a VM. */
function bare(i: number, pid: number, ppid: number | undefined, action = "openat", exit?: number): HvEvent {
  const e = makeEvent(i, { process: { pid, ...(ppid !== undefined ? { ppid } : {}), executable: "/usr/bin/true" }, event: { action } });
  delete e.vm;
  e.audit = { serial: i, time: "0", type: "SYSCALL", records: [], ...(exit !== undefined ? { exit } : {}) };
  return e;
}

describe("VM attribution on a real qemu's audit events", () => {
  it.skipIf(unavailable !== undefined)("names the domain on qemu's execve and disk open, by pid, by parent and by cgroup", { timeout: 240_000 }, async () => {
    await ensureLibvirtd();
    const dom = `hvtest-attr-${randomBytes(3).toString("hex")}`;
    const dir = await mkdtemp(join(tmpdir(), "hv-attr-"));
    await chmod(dir, 0o755); // qemu runs as libvirt-qemu and must reach the disk
    const disk = join(dir, "disk.qcow2");
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", disk, "16M"]);
    await writeFile(join(dir, "dom.xml"), `<domain type='qemu'><name>${dom}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='pc'>hvm</type></os>
      <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
        <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
      </devices></domain>`);

    const auditd = await startAuditdWhenFree();
    const abort = new AbortController();
    const table = new ProcessTable();
    const decoder = new AuditDecoder({ processes: table });
    const inventory = new LibvirtInventory({ uri: URI });
    const attribute = createAttribution(inventory, { processes: table, live: true });
    const events: HvEvent[] = [];
    const take = (batch: HvEvent[]): void => {
      for (const e of batch) {
        attribute(e);
        events.push(e);
      }
    };
    const statuses: SocketStatus[] = [];
    const raw: string[] = [];
    const reading = (async () => {
      let n = 0;
      for await (const line of readUnixSocketLines(auditd.socketPath, { signal: abort.signal, onStatus: (s) => statuses.push(s) })) {
        raw.push(line.text);
        take(decoder.pushLine(line.text, ++n, undefined, undefined, Date.now()).events);
      }
    })();
    const expiry = setInterval(() => take(decoder.expire(Date.now())), 200);
    try {
      await waitFor(() => statuses.some((s) => s.state === "connected"), 5000, "the audit socket");
      const qemuBin = await realpath("/usr/bin/qemu-system-x86_64");
      await auditctl("-A", "always,exit", "-F", "arch=b64", "-S", "execve", "-F", `exe=${qemuBin}`, "-k", "hvqemu");
      await auditctl("-A", "always,exit", "-F", `path=${disk}`, "-F", "perm=r", "-k", "hvdisk");

      await virsh("define", join(dir, "dom.xml"));
      const uuid = (await virsh("domuuid", dom)).trim();
      await virsh("start", dom);
      const pid = Number((await readFile(`/run/libvirt/qemu/${dom}.pid`, "utf8")).trim());
      const vm = { name: dom, uuid };

      const keyed = (key: string): HvEvent[] => events.filter((e) => e.audit?.key?.includes(key) && e.process?.pid === pid);
      await waitFor(() => keyed("hvqemu").length > 0 && keyed("hvdisk").length > 0, 20_000, `qemu's execve and disk-open events (pid ${pid})`);
      const exec = keyed("hvqemu")[0]!;
      expect(exec.event.action).toBe("execve");
      expect(exec.process?.args).toContain(`guest=${dom},debug-threads=on`);
      expect(exec.vm).toEqual(vm);
      for (const open of keyed("hvdisk")) {
        expect(open.file?.path).toBe(disk);
        expect(open.vm).toEqual(vm);
      }
      // libvirtd reads the image too (format probing): that is not the guest.
      for (const other of events.filter((e) => e.audit?.key?.includes("hvdisk") && e.process?.pid !== pid)) {
        expect(other.vm?.name, `pid ${other.process?.pid} ${other.process?.executable}`).toBeUndefined();
      }

      // HV_RECORD_QEMU_AUDIT=FILE keeps the records of qemu's events (the fixture of attribution-replay.test.ts).
      const recordTo = process.env.HV_RECORD_QEMU_AUDIT;
      if (recordTo) {
        const serials = new Set([...keyed("hvqemu"), ...keyed("hvdisk")].map((e) => `:${e.audit!.serial})`));
        await writeFile(recordTo, raw.filter((l) => [...serials].some((s) => l.includes(s))).join("\n") + "\n");
      }

      // The same real process through the other paths, each with an attribution that knows nothing else.
      await inventory.refresh();
      expect(inventory.byName(dom)?.qemuPid).toBe(pid);
      const byPid = bare(1, pid, 1);
      createAttribution(inventory)(byPid);
      expect(byPid.vm).toEqual(vm);

      const childTable = new ProcessTable();
      const viaParent = createAttribution(inventory, { processes: childTable });
      const child = 4_190_001; // above any pid this host hands out: only the table links it to qemu
      const fork = bare(2, pid, 1, "clone", child);
      childTable.enrich(fork);
      const grandchildFork = bare(3, child, undefined, "clone", child + 1);
      childTable.enrich(grandchildFork);
      const grandchild = bare(4, child + 1, undefined);
      viaParent(grandchild);
      expect(grandchild.vm).toEqual(vm);

      const noPids = new InventoryIndex(inventory.all().map((r) => ({ name: r.name, uuid: r.uuid, interfaces: [] })));
      const byCgroup = bare(5, pid, 1);
      createAttribution(noPids, { live: true })(byCgroup);
      expect(byCgroup.vm).toEqual(vm);
    } finally {
      clearInterval(expiry);
      abort.abort();
      await reading.catch(() => undefined);
      await removeDomain(dom);
      await auditd.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
