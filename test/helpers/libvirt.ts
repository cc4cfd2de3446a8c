// Real libvirt + QEMU for tests, without systemd (DESIGN.md, "Real components"): starts `virtlogd -d`
// and `libvirtd -d` by hand when qemu:///system does not answer, makes isolated networks (10.x, no
// <forward>, so libvirt never turns on ip_forward), defines tiny TCG guests with raw virsh (the
// kernel + busybox initramfs that scripts/build-test-guest.sh builds), waits for the guest's marker
// in its serial log, and removes everything named with the test prefix afterwards.
//
// Everything a test creates is named `hvtest-…` (domains, networks, bridges `hvt…`) so that
// cleanupTestResources() can remove leftovers of an earlier, killed run without touching anyone
// else's domains.

import { execa } from "execa";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const URI = "qemu:///system" as const;
export const TEST_PREFIX = "hvtest-";
/** Where scripts/build-test-guest.sh puts the guest (CI exports the same path). */
export const GUEST_DIR = process.env.HV_TEST_GUEST_DIR ?? "/var/cache/hv-test-guest/out";
/** Per-test disks and serial logs; qemu (user libvirt-qemu) must be able to reach them. */
export const WORK_DIR = "/var/lib/libvirt/hvtest";
export const BOOT_MARKER = "HV-GUEST-BOOTED";
export const GUEST_CMDLINE = "console=ttyS0 panic=-1";
const BUILD_SCRIPT = new URL("../../scripts/build-test-guest.sh", import.meta.url).pathname;

export interface GuestFiles {
  kernel: string;
  initrd: string;
  /** Empty 64 MiB qcow2: a backing file, never written to (use overlays). */
  disk: string;
}

/**
 * Why real libvirt VMs cannot run here, or undefined when they can. Tests skip with this reason
 * (loudly), except under CI=true where a missing component is a failure: see requireLibvirt().
 */
export function whyNoLibvirt(): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root (qemu:///system and libvirtd need root)";
  for (const [bin, pkg] of [
    ["/usr/sbin/libvirtd", "libvirt-daemon-system"],
    ["/usr/sbin/virtlogd", "libvirt-daemon-system"],
    ["/usr/bin/virsh", "libvirt-clients"],
    ["/usr/bin/qemu-system-x86_64", "qemu-system-x86"],
    ["/usr/bin/qemu-img", "qemu-utils"],
    ["/usr/sbin/dnsmasq", "dnsmasq-base"],
  ] as const) {
    if (!existsSync(bin)) return `${bin} is missing (apt-get install ${pkg})`;
  }
  return undefined;
}

/** Why the test guest is not available, or undefined. */
export function whyNoGuest(): string | undefined {
  const files = guestFiles();
  for (const f of [files.kernel, files.initrd, files.disk]) {
    if (!existsSync(f)) return `${f} is missing: run scripts/build-test-guest.sh ${GUEST_DIR}`;
  }
  return undefined;
}

/**
 * The skip reason for a describe.skipIf(), printed loudly; under CI=true a missing component throws
 * instead, because CI installs everything and a silent skip there would hide a broken setup.
 */
export function libvirtSkipReason(opts: { guest?: boolean } = {}): string | undefined {
  const reason = whyNoLibvirt() ?? (opts.guest ? whyNoGuest() : undefined);
  if (reason === undefined) return undefined;
  if (process.env.CI === "true") throw new Error(`libvirt tests cannot run under CI: ${reason}`);
  console.warn(`\n*** SKIPPING real-libvirt tests: ${reason} ***\n`);
  return reason;
}

export function guestFiles(dir = GUEST_DIR): GuestFiles {
  return { kernel: join(dir, "vmlinuz"), initrd: join(dir, "initrd.img"), disk: join(dir, "disk.qcow2") };
}

/** Runs scripts/build-test-guest.sh (a no-op when the guest is already built). */
export async function buildTestGuest(dir = GUEST_DIR): Promise<GuestFiles> {
  await execa("bash", [BUILD_SCRIPT, dir], { stdout: "inherit", stderr: "inherit" });
  return guestFiles(dir);
}

export async function virsh(...args: string[]): Promise<string> {
  const r = await execa("virsh", ["-q", "-c", URI, ...args], { reject: false });
  if (r.exitCode !== 0) throw new Error(`virsh ${args.join(" ")} failed (${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** virsh that never throws: for probes and cleanup. */
export async function virshTry(...args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const r = await execa("virsh", ["-q", "-c", URI, ...args], { reject: false });
  return { ok: r.exitCode === 0, stdout: r.stdout, stderr: r.stderr };
}

async function answers(): Promise<boolean> {
  const r = await execa("virsh", ["-c", URI, "version"], { reject: false, timeout: 10_000 });
  return r.exitCode === 0;
}

function isRunning(name: string): Promise<boolean> {
  return execa("pgrep", ["-x", name], { reject: false }).then((r) => r.exitCode === 0);
}

export interface RunningLibvirt {
  uri: typeof URI;
  /** Whether this helper started the daemons (then stop() stops them; else it leaves them alone). */
  started: boolean;
  stop(): Promise<void>;
}

/**
 * Makes sure virtlogd and libvirtd run and qemu:///system answers. Daemons found running are left
 * alone (and stop() does not touch them); daemons this call starts are stopped by stop() — unless
 * HV_TEST_KEEP_LIBVIRTD=1, which lets several test files reuse one daemon.
 */
export async function ensureLibvirtd(): Promise<RunningLibvirt> {
  const reason = whyNoLibvirt();
  if (reason) throw new Error(`cannot run libvirtd: ${reason}`);
  const startedNames: string[] = [];
  // qemu needs virtlogd for its log files; libvirtd does not start it without systemd's socket units.
  if (!(await isRunning("virtlogd"))) {
    await execa("virtlogd", ["-d"]);
    startedNames.push("virtlogd");
  }
  if (!(await answers())) {
    if (!(await isRunning("libvirtd"))) {
      await execa("libvirtd", ["-d"]);
      startedNames.push("libvirtd");
    }
    await waitFor(answers, 30_000, "libvirtd to answer on qemu:///system");
  }
  // Wait for virtlogd's socket too: starting a domain before it exists fails.
  await waitFor(async () => existsSync("/run/libvirt/virtlogd-sock"), 10_000, "virtlogd's socket");
  const pids = new Map<string, number[]>();
  for (const name of startedNames) {
    const r = await execa("pgrep", ["-x", name], { reject: false });
    pids.set(name, r.stdout.split("\n").filter(Boolean).map(Number));
  }
  return {
    uri: URI,
    started: startedNames.length > 0,
    async stop() {
      if (process.env.HV_TEST_KEEP_LIBVIRTD === "1") return;
      for (const name of ["libvirtd", "virtlogd"]) {
        for (const pid of pids.get(name) ?? []) {
          try {
            process.kill(pid, "SIGTERM");
          } catch {
            // already gone
          }
        }
      }
    },
  };
}

/** Starts virtlogd again if something stopped it (several test runs share one host). */
export async function ensureVirtlogd(): Promise<void> {
  if (!(await isRunning("virtlogd"))) await execa("virtlogd", ["-d"]);
  await waitFor(async () => existsSync("/run/libvirt/virtlogd-sock"), 10_000, "virtlogd's socket");
}

export interface IsolatedNetwork {
  name: string;
  bridge: string;
  /** e.g. 10.231.41.1 */
  gateway: string;
  /** e.g. 10.231.41.0/24 */
  cidr: string;
}

/** Subnets already on this host (another libvirt network, a test's netns bridge, …). */
async function usedSubnets(): Promise<Set<string>> {
  const r = await execa("ip", ["-o", "-4", "addr", "show"], { reject: false });
  const used = new Set<string>();
  for (const m of r.stdout.matchAll(/inet (\d+\.\d+\.\d+)\.\d+\//g)) used.add(m[1]!);
  const nets = await virshTry("net-list", "--all", "--name");
  for (const n of nets.stdout.split("\n").filter(Boolean)) {
    const xml = await virshTry("net-dumpxml", n.trim());
    for (const m of xml.stdout.matchAll(/address='(\d+\.\d+\.\d+)\.\d+'/g)) used.add(m[1]!);
  }
  return used;
}

/**
 * Creates (transient: net-create, gone when libvirtd restarts) an isolated network: no <forward>,
 * a 10.x /24 that nothing else on the host uses, DHCP for the guests. Name must start with hvtest-.
 */
export async function createIsolatedNetwork(name: string): Promise<IsolatedNetwork> {
  assertTestName(name);
  await virshTry("net-destroy", name);
  const used = await usedSubnets();
  let lastError = "";
  for (let attempt = 0; attempt < 8; attempt++) {
    const prefix = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250) + 1}`;
    if (used.has(prefix)) continue;
    // Bridge names are at most 15 characters.
    const bridge = `hvt${Math.random().toString(36).slice(2, 10)}`;
    const xml = [
      "<network>",
      `  <name>${name}</name>`,
      `  <bridge name='${bridge}' stp='off' delay='0'/>`,
      `  <ip address='${prefix}.1' netmask='255.255.255.0'>`,
      `    <dhcp><range start='${prefix}.10' end='${prefix}.200'/></dhcp>`,
      "  </ip>",
      "</network>",
      "",
    ].join("\n");
    await mkdir(WORK_DIR, { recursive: true });
    const file = join(WORK_DIR, `${name}.net.xml`);
    await writeFile(file, xml);
    const r = await virshTry("net-create", file);
    await rm(file, { force: true });
    if (r.ok) return { name, bridge, gateway: `${prefix}.1`, cidr: `${prefix}.0/24` };
    lastError = r.stderr.trim();
    // "Network is already in use by interface …": another subnet. Anything else is not going to get better.
    if (!/already in use/i.test(lastError)) break;
  }
  throw new Error(`could not create isolated network ${name}: ${lastError}`);
}

export async function removeNetwork(name: string): Promise<void> {
  await virshTry("net-destroy", name);
  await virshTry("net-undefine", name);
}

/**
 * A transient directory storage pool under WORK_DIR (for tests of commands that make volumes).
 * Returns the pool's directory.
 */
export async function createTestPool(name: string): Promise<string> {
  assertTestName(name);
  await removePool(name);
  const dir = join(WORK_DIR, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await virsh("pool-create-as", name, "dir", "--target", dir);
  return dir;
}

export async function removePool(name: string): Promise<void> {
  await virshTry("pool-destroy", name);
  await virshTry("pool-undefine", name);
}

export interface TestGuestOptions {
  /** Network to attach one virtio NIC to (omit for no NIC). */
  network?: string;
  /** MiB; 128 by default (96 is the minimum for this kernel). */
  memoryMiB?: number;
  mac?: string;
  /** Kernel files; guestFiles() by default. */
  guest?: GuestFiles;
  /** Added to the kernel command line, e.g. "hv.ping" (the guest pings its router every second, printing HV-PING ok|fail). */
  cmdlineExtra?: string;
}

export interface TestGuest {
  name: string;
  /** The serial console, written by qemu (grep for BOOT_MARKER). */
  serialLog: string;
  /** This guest's own qcow2 overlay over the shared empty disk. */
  disk: string;
  xml: string;
}

/** Per-guest disk overlay and serial log path, in a directory qemu can reach. */
export async function guestPaths(name: string): Promise<{ dir: string; disk: string; serialLog: string }> {
  assertTestName(name);
  await mkdir(WORK_DIR, { recursive: true });
  await chmod(WORK_DIR, 0o755);
  return { dir: WORK_DIR, disk: join(WORK_DIR, `${name}.qcow2`), serialLog: join(WORK_DIR, `${name}.serial.log`) };
}

/** The domain XML of a test guest (TCG, kernel boot, serial console to a file). */
export function testGuestXml(name: string, g: GuestFiles, disk: string, serialLog: string, opts: TestGuestOptions = {}): string {
  const nic = opts.network
    ? [
        "    <interface type='network'>",
        `      <source network='${opts.network}'/>`,
        opts.mac ? `      <mac address='${opts.mac}'/>` : "",
        "      <model type='virtio'/>",
        "    </interface>",
      ].filter(Boolean)
    : [];
  return [
    "<domain type='qemu'>",
    `  <name>${name}</name>`,
    `  <memory unit='MiB'>${opts.memoryMiB ?? 128}</memory>`,
    "  <vcpu>1</vcpu>",
    "  <os>",
    "    <type arch='x86_64' machine='pc'>hvm</type>",
    `    <kernel>${g.kernel}</kernel>`,
    `    <initrd>${g.initrd}</initrd>`,
    `    <cmdline>${GUEST_CMDLINE}${opts.cmdlineExtra ? ` ${opts.cmdlineExtra}` : ""}</cmdline>`,
    "  </os>",
    "  <features><acpi/></features>",
    "  <on_poweroff>destroy</on_poweroff>",
    "  <on_reboot>restart</on_reboot>",
    "  <on_crash>destroy</on_crash>",
    "  <devices>",
    "    <disk type='file' device='disk'>",
    "      <driver name='qemu' type='qcow2'/>",
    `      <source file='${disk}'/>`,
    "      <target dev='vda' bus='virtio'/>",
    "    </disk>",
    ...nic,
    "    <serial type='file'>",
    `      <source path='${serialLog}' append='off'/>`,
    "      <target port='0'/>",
    "    </serial>",
    "    <memballoon model='virtio'><stats period='2'/></memballoon>",
    "  </devices>",
    "</domain>",
    "",
  ].join("\n");
}

/**
 * Defines (does not start) a test guest with raw virsh — for tests that need a VM without testing
 * hv's own create. Its disk is a fresh qcow2 overlay over the built empty disk, so snapshots stay
 * per guest.
 */
export async function defineTestGuest(name: string, opts: TestGuestOptions = {}): Promise<TestGuest> {
  const g = opts.guest ?? guestFiles();
  const { disk, serialLog } = await guestPaths(name);
  await rm(disk, { force: true });
  await rm(serialLog, { force: true });
  await execa("qemu-img", ["create", "-q", "-f", "qcow2", "-b", g.disk, "-F", "qcow2", disk]);
  const xml = testGuestXml(name, g, disk, serialLog, opts);
  const file = join(WORK_DIR, `${name}.xml`);
  await writeFile(file, xml);
  try {
    await virsh("define", file);
  } finally {
    await rm(file, { force: true });
  }
  return { name, serialLog, disk, xml };
}

/** Resolves with the serial log's text once it contains marker; throws (with the log's tail) on timeout. */
export async function waitForBoot(logFile: string, marker = BOOT_MARKER, timeoutMs = 90_000): Promise<string> {
  let text = "";
  try {
    await waitFor(
      async () => {
        text = await readFile(logFile, "utf8").catch(() => "");
        return text.includes(marker);
      },
      timeoutMs,
      `"${marker}" in ${logFile}`,
    );
  } catch (err) {
    const tail = text.split("\n").slice(-15).join("\n");
    throw new Error(`${(err as Error).message}\n--- last lines of ${logFile} ---\n${tail || "(empty or missing)"}`);
  }
  return text;
}

export async function domState(name: string): Promise<string> {
  return (await virsh("domstate", name)).trim();
}

/** Tap devices (vnetN) and MACs from `virsh domiflist`. */
export async function domIfList(name: string): Promise<Array<{ iface: string; type: string; source: string; model: string; mac: string }>> {
  const out = await virsh("domiflist", name);
  return out
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5)
    .map(([iface, type, source, model, mac]) => ({ iface: iface!, type: type!, source: source!, model: model!, mac: mac! }));
}

/** Names of a domain's snapshots, from `virsh snapshot-list --name`. */
export async function snapshotNames(name: string): Promise<string[]> {
  return (await virsh("snapshot-list", name, "--name")).split("\n").map((s) => s.trim()).filter(Boolean);
}

export async function domainExists(name: string): Promise<boolean> {
  return (await virshTry("domuuid", name)).ok;
}

/** Destroys and undefines one domain with its snapshots (metadata) and nvram; ignores absence. */
export async function removeDomain(name: string): Promise<void> {
  await virshTry("destroy", name);
  const snaps = await virshTry("snapshot-list", name, "--name");
  for (const s of snaps.stdout.split("\n").map((x) => x.trim()).filter(Boolean)) {
    await virshTry("snapshot-delete", name, s, "--metadata");
  }
  await virshTry("undefine", name, "--nvram", "--managed-save", "--snapshots-metadata", "--checkpoints-metadata");
  await virshTry("undefine", name);
}

/**
 * Removes every domain, network and storage pool whose name starts with prefix (default hvtest-), and their files
 * under WORK_DIR. Call in afterAll (and beforeAll, for leftovers of a killed run).
 */
export async function cleanupTestResources(prefix = TEST_PREFIX): Promise<void> {
  if (!prefix.startsWith(TEST_PREFIX)) throw new Error(`refusing to clean up names outside ${TEST_PREFIX}: ${prefix}`);
  const doms = await virshTry("list", "--all", "--name");
  for (const d of doms.stdout.split("\n").map((x) => x.trim()).filter((x) => x.startsWith(prefix))) await removeDomain(d);
  const nets = await virshTry("net-list", "--all", "--name");
  for (const n of nets.stdout.split("\n").map((x) => x.trim()).filter((x) => x.startsWith(prefix))) await removeNetwork(n);
  const pools = await virshTry("pool-list", "--all", "--name");
  for (const p of pools.stdout.split("\n").map((x) => x.trim()).filter((x) => x.startsWith(prefix))) await removePool(p);
  if (existsSync(WORK_DIR)) {
    const { readdir } = await import("node:fs/promises");
    for (const f of await readdir(WORK_DIR)) if (f.startsWith(prefix)) await rm(join(WORK_DIR, f), { recursive: true, force: true });
  }
}

function assertTestName(name: string): void {
  if (!name.startsWith(TEST_PREFIX) || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new Error(`test resource names must start with ${TEST_PREFIX} and be plain ([A-Za-z0-9_.-]): ${JSON.stringify(name)}`);
  }
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
