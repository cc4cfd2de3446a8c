// Forensic capture benchmark against the real libvirtd: one 128 MiB TCG guest (the test guest of
// scripts/build-test-guest.sh, its disk overlay pre-filled with --fill MiB of data so the disk copy
// has something to copy), captured memory-only, disk-only and both, --runs times each; then
// verify of a full bundle. Prints p50 (and min/max) of wall time and bundle size. Root needed.
//
//   npm run build && node dist/bench/forensics.js [--runs 3] [--fill 32]

import { execa } from "execa";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureBundle } from "../src/forensics/capture.js";
import { verifyBundle } from "../src/forensics/verify.js";
import { openStore } from "../src/store/open.js";
import { VirshBackend } from "../src/vm/virsh.js";

const GUEST = process.env.HV_TEST_GUEST_DIR ?? "/var/cache/hv-test-guest/out";
const WORK = "/var/lib/libvirt/hvtest";
const VM = `hvtest-for-bench-${process.pid}`;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

async function virsh(...args: string[]): Promise<string> {
  return (await execa("virsh", ["-q", "-c", "qemu:///system", ...args])).stdout;
}

async function startGuest(fillMiB: number): Promise<void> {
  await mkdir(WORK, { recursive: true });
  await chmod(WORK, 0o755);
  const disk = join(WORK, `${VM}.qcow2`);
  const serial = join(WORK, `${VM}.serial.log`);
  await execa("qemu-img", ["create", "-q", "-f", "qcow2", "-b", join(GUEST, "disk.qcow2"), "-F", "qcow2", disk]);
  if (fillMiB > 0) await execa("qemu-io", ["-f", "qcow2", "-c", `write -P 0xa5 0 ${fillMiB}M`, disk]);
  const xml = `<domain type='qemu'><name>${VM}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>${GUEST}/vmlinuz</kernel><initrd>${GUEST}/initrd.img</initrd><cmdline>console=ttyS0 panic=-1</cmdline></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
<serial type='file'><source path='${serial}'/><target port='0'/></serial></devices></domain>`;
  const file = join(WORK, `${VM}.xml`);
  await writeFile(file, xml);
  await virsh("create", file);
  await rm(file, { force: true });
  for (let i = 0; i < 240; i++) {
    if ((await readFile(serial, "utf8").catch(() => "")).includes("HV-GUEST-BOOTED")) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${VM} did not boot within 60 s`);
}

async function stopGuest(): Promise<void> {
  await execa("virsh", ["-q", "-c", "qemu:///system", "destroy", VM], { reject: false });
  for (const f of [`${VM}.qcow2`, `${VM}.serial.log`]) await rm(join(WORK, f), { force: true });
}

function stats(xs: number[], digits = 0): string {
  const s = [...xs].sort((a, b) => a - b);
  const f = (n: number): string => n.toFixed(digits).padStart(6);
  return `p50 ${f(s[Math.floor((s.length - 1) / 2)]!)}  min ${f(s[0]!)}  max ${f(s[s.length - 1]!)}`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) return void console.log("skipped: needs root (qemu:///system)");
  if (!existsSync(join(GUEST, "vmlinuz"))) return void console.log(`skipped: ${GUEST}/vmlinuz missing (scripts/build-test-guest.sh)`);
  const runs = arg("runs", 3);
  const fill = arg("fill", 32);
  const stateDir = await mkdtemp(join(tmpdir(), "hv-for-bench-"));
  const db = openStore(join(stateDir, "hv.db"));
  const backend = new VirshBackend();
  try {
    await startGuest(fill);
    console.log(`guest ${VM}: 128 MiB RAM, 64 MiB virtual disk with ${fill} MiB written; ${runs} runs each`);
    let lastFull = "";
    for (const [label, memory, disk] of [["memory only", true, false], ["disk only", false, true], ["memory + disk", true, true]] as const) {
      const ms: number[] = [];
      const mib: number[] = [];
      for (let i = 0; i < runs; i++) {
        const s = await captureBundle({ vm: VM, backend, db, stateDir, memory, disk, by: "bench" });
        if (s.failures.length) throw new Error(`capture failed: ${s.failures.join("; ")}`);
        ms.push(s.ms);
        mib.push(s.bytes / 1024 / 1024);
        if (memory && disk) lastFull = s.path;
        else await rm(s.path, { recursive: true, force: true });
      }
      console.log(`${label.padEnd(14)} time ms: ${stats(ms)}   bundle MiB: ${stats(mib, 1)}`);
    }
    const vms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const r = await verifyBundle(lastFull, { stateDir });
      vms.push(performance.now() - t);
      if (!r.ok) throw new Error(`verify failed: ${JSON.stringify(r.problems)}`);
    }
    console.log(`verify (memory + disk bundle) ms: ${stats(vms)}`);
    console.log(`guest state after: ${(await virsh("domstate", VM)).trim()}`);
  } finally {
    db.close();
    await stopGuest();
    await rm(stateDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
