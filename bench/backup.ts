// Backup benchmark against the real libvirtd and restic: one 128 MiB TCG guest (the test guest with
// hv.disk: it writes one 512-byte record to its disk every second), its disk overlay pre-filled
// with --fill MiB of random data. Two `hv backup create`s --wait seconds apart into a fresh restic
// repository: bytes read, bytes restic added, time. Beside it, the peer hv does not use: libvirt's
// own incremental backup (virsh backup-begin, push mode, with checkpoints) over the same interval —
// the size of the full image and of the incremental image it writes. Root needed.
//
//   npm run build && node dist/bench/backup.js [--fill 32] [--wait 10]

import { execa } from "execa";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBackup, type BackupSummary } from "../src/backup/create.js";
import { initRepository } from "../src/backup/init.js";
import { resolveRepo } from "../src/backup/settings.js";
import { VirshBackend } from "../src/vm/virsh.js";

const GUEST = process.env.HV_TEST_GUEST_DIR ?? "/var/cache/hv-test-guest/out";
const WORK = "/var/lib/libvirt/hvtest";
const VM = `hvtest-bk-bench-${process.pid}`;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

async function virsh(...args: string[]): Promise<string> {
  return (await execa("virsh", ["-q", "-c", "qemu:///system", ...args])).stdout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(2)} MiB`;
const serial = join(WORK, `${VM}.serial.log`);
const disk = join(WORK, `${VM}.qcow2`);

async function startGuest(fillMiB: number, scratch: string): Promise<void> {
  await mkdir(WORK, { recursive: true });
  await chmod(WORK, 0o755);
  await execa("qemu-img", ["create", "-q", "-f", "qcow2", "-b", join(GUEST, "disk.qcow2"), "-F", "qcow2", disk]);
  if (fillMiB > 0) {
    const random = join(scratch, "random.bin");
    await writeFile(random, randomBytes(fillMiB * 1024 * 1024));
    await execa("qemu-io", ["-f", "qcow2", "-c", `write -q -s ${random} 4M ${fillMiB}M`, disk]);
    await rm(random);
  }
  const xml = `<domain type='qemu'><name>${VM}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>${GUEST}/vmlinuz</kernel><initrd>${GUEST}/initrd.img</initrd><cmdline>console=ttyS0 panic=-1 hv.disk</cmdline></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
<serial type='file'><source path='${serial}'/><target port='0'/></serial></devices></domain>`;
  const file = join(scratch, `${VM}.xml`);
  await writeFile(file, xml);
  await virsh("define", file);
  await virsh("start", VM);
  for (let i = 0; i < 480; i++) {
    if ((await readFile(serial, "utf8").catch(() => "")).includes("HV-DISK-WROTE 2")) return;
    await sleep(250);
  }
  throw new Error(`${VM} did not start writing within 120 s`);
}

async function stopGuest(): Promise<void> {
  await execa("virsh", ["-q", "-c", "qemu:///system", "destroy", VM], { reject: false });
  await execa("virsh", ["-q", "-c", "qemu:///system", "undefine", VM, "--checkpoints-metadata"], { reject: false });
  for (const f of [`${VM}.qcow2`, `${VM}.serial.log`]) await rm(join(WORK, f), { force: true });
}

/** One push-mode libvirt backup of vda into `target` (full, or incremental since `since`), making checkpoint `name`. */
async function libvirtBackup(scratch: string, target: string, name: string, since?: string): Promise<number> {
  const backup = join(scratch, `${name}.backup.xml`);
  const checkpoint = join(scratch, `${name}.checkpoint.xml`);
  await writeFile(backup, `<domainbackup mode='push'>${since ? `<incremental>${since}</incremental>` : ""}<disks><disk name='vda' backup='yes' type='file'><target file='${target}'/><driver type='qcow2'/></disk></disks></domainbackup>`);
  await writeFile(checkpoint, `<domaincheckpoint><name>${name}</name><disks><disk name='vda' checkpoint='bitmap'/></disks></domaincheckpoint>`);
  const t = performance.now();
  await virsh("backup-begin", VM, backup, checkpoint);
  for (;;) {
    const info = await virsh("domjobinfo", VM);
    if (/Job type:\s+None/.test(info)) break;
    await sleep(100);
  }
  const done = await virsh("domjobinfo", VM, "--completed");
  if (!/Completed/.test(done)) throw new Error(`backup-begin ${name} did not complete: ${done}`);
  return performance.now() - t;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) return void console.log("skipped: needs root (qemu:///system)");
  if (!existsSync(join(GUEST, "vmlinuz"))) return void console.log(`skipped: ${GUEST}/vmlinuz missing (scripts/build-test-guest.sh)`);
  if (!existsSync("/usr/bin/restic")) return void console.log("skipped: restic is missing (apt-get install restic)");
  const fill = arg("fill", 32);
  const wait = arg("wait", 10);
  const scratch = await mkdtemp(join(tmpdir(), "hv-bk-bench-"));
  const stateDir = join(scratch, "state");
  const repo = resolveRepo(stateDir, undefined, { repo: join(scratch, "repo") }, {});
  const backend = new VirshBackend();
  try {
    await initRepository(repo, stateDir);
    await startGuest(fill, scratch);
    console.log(`guest ${VM}: 128 MiB RAM, 64 MiB virtual disk with ${fill} MiB of random data; it writes 512 B a second; backups ${wait} s apart`);
    const records = async (): Promise<number> => Math.max(0, ...[...(await readFile(serial, "utf8")).matchAll(/HV-DISK-WROTE (\d+)/g)].map((m) => Number(m[1])));
    const runs: Array<BackupSummary & { records: number }> = [];
    for (let i = 0; i < 2; i++) {
      if (i > 0) await sleep(wait * 1000);
      const s = await createBackup({ vm: VM, backend, repo, stateDir, stagingRoot: join(stateDir, "staging"), by: "bench" });
      runs.push({ ...s, records: await records() });
    }
    const repoBytes = async (): Promise<number> => Number((await execa("du", ["-sb", join(scratch, "repo")])).stdout.split("\t")[0]);
    console.log("hv backup (whole images; restic deduplication):");
    runs.forEach((r, i) =>
      console.log(`  backup ${i + 1}: image ${mib(r.disks[0]!.bytes)}, read ${mib(r.bytesProcessed)}, restic added ${mib(r.dataAdded)} (${r.dataAdded} B), ${(r.ms / 1000).toFixed(1)} s, ${r.consistency}; guest had written ${r.records} records`),
    );
    console.log(`  repository on disk after both: ${mib(await repoBytes())}`);
    console.log(`  changed between them: ${runs[1]!.records - runs[0]!.records} records × 512 B = ${(runs[1]!.records - runs[0]!.records) * 512} B of guest writes`);

    // The peer: libvirt checkpoints on the same guest, the same interval.
    const full = join(WORK, `${VM}.full.qcow2`);
    const inc = join(WORK, `${VM}.inc.qcow2`);
    try {
      const before = await records();
      const msFull = await libvirtBackup(scratch, full, "cp1");
      await sleep(wait * 1000);
      const msInc = await libvirtBackup(scratch, inc, "cp2", "cp1");
      const after = await records();
      console.log("libvirt incremental backup (backup-begin, push mode, checkpoints) — the peer:");
      console.log(`  full: ${mib((await stat(full)).size)} file in ${msFull.toFixed(0)} ms; incremental: ${mib((await stat(inc)).size)} file in ${msInc.toFixed(0)} ms; ${after - before} records between`);
      const map = JSON.parse((await execa("qemu-img", ["map", "-U", "--output=json", inc])).stdout) as Array<{ length: number; data: boolean; depth: number }>;
      const dataBytes = map.filter((e) => e.data && e.depth === 0).reduce((n, e) => n + e.length, 0);
      console.log(`  data clusters in the incremental image: ${mib(dataBytes)} (${dataBytes} B; qcow2 clusters are 64 KiB)`);
    } finally {
      for (const f of [full, inc]) await rm(f, { force: true });
    }
  } finally {
    await stopGuest();
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
