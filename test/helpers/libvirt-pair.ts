// Two real libvirt hosts on one machine, for live migration tests. Each "host" is a libvirtd and a
// virtlogd in namespaces of their own — mount (private /run/libvirt, /var/lib/libvirt,
// /etc/libvirt, /var/log/libvirt, /var/cache/libvirt, bind-mounted from directories of the test),
// network (only lo and one end of a veth, 10.x addresses) and UTS (its own hostname) — with its own
// host UUID, listening on TCP without TLS or auth (auth_tcp = "none") on its veth address only, and
// on a UNIX socket the test reaches from outside as qemu+unix:///system?socket=…
//
// What the hosts share is what real hosts on one network would: the machine's CPU and kernel, and
// the test guest's kernel files (read-only, outside the private directories). Disks live in each
// host's private /var/lib/libvirt/images, so a live migration must copy them (--copy-storage).
//
// Everything is named hvtest-mig-…; stop() destroys the domains, stops the daemons (the namespaces
// go with their last process) and removes the directories.

import { execa, type ResultPromise } from "execa";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, cp, mkdir, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { waitFor } from "./libvirt.js";

export interface PairHost {
  label: "a" | "b";
  /** The host's directories, seen from outside. */
  base: string;
  /** qemu+unix:///system?socket=… — what the test (outside the namespaces) connects to. */
  uri: string;
  /** qemu+tcp://ADDRESS/system — what the other host's libvirtd connects to (--p2p). */
  tcpUri: string;
  /** Its veth address. */
  address: string;
  hostname: string;
  /** A process inside the namespaces (nsenter -t PID). */
  holderPid: number;
}

export interface LibvirtPair {
  a: PairHost;
  b: PairHost;
  /** Runs a command inside a host's namespaces. */
  inHost(h: PairHost, cmd: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }>;
  virsh(h: PairHost, ...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const DIRS = { run: "/run/libvirt", etc: "/etc/libvirt", log: "/var/log/libvirt", cache: "/var/cache/libvirt", lib: "/var/lib/libvirt" } as const;

/** Why two daemons cannot run here, or undefined. */
export function whyNoPair(): string | undefined {
  for (const bin of ["/usr/bin/unshare", "/usr/bin/nsenter", "/usr/sbin/libvirtd", "/usr/sbin/virtlogd"]) if (!existsSync(bin)) return `${bin} is missing`;
  if (process.getuid?.() !== 0) return "not root";
  return undefined;
}

export async function startLibvirtPair(root: string): Promise<LibvirtPair> {
  if (!/\/hvtest-mig-[A-Za-z0-9-]+$/.test(root)) throw new Error(`the pair's directory must be named hvtest-mig-…: ${root}`);
  const net = `10.${200 + Math.floor(Math.random() * 50)}.${1 + Math.floor(Math.random() * 250)}`;
  const tag = randomBytes(2).toString("hex");
  const holders: ResultPromise[] = [];
  const hosts: PairHost[] = [];
  const pair: LibvirtPair = {
    a: undefined as unknown as PairHost,
    b: undefined as unknown as PairHost,
    async inHost(h, cmd) {
      const r = await execa("nsenter", ["-t", String(h.holderPid), "-m", "-n", "-u", "--", ...cmd], { reject: false, timeout: 120_000 });
      return { ok: r.exitCode === 0, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    async virsh(h, ...args) {
      const r = await execa("virsh", ["-q", "-c", h.uri, ...args], { reject: false, timeout: 300_000 });
      if (r.exitCode !== 0) throw new Error(`virsh -c ${h.uri} ${args.join(" ")}: ${String(r.stderr).trim()}`);
      return String(r.stdout);
    },
    async stop() {
      for (const h of hosts) {
        const doms = await execa("virsh", ["-q", "-c", h.uri, "list", "--all", "--name"], { reject: false, timeout: 30_000 });
        for (const d of String(doms.stdout).split("\n").map((s) => s.trim()).filter(Boolean)) {
          await execa("virsh", ["-q", "-c", h.uri, "destroy", d], { reject: false, timeout: 30_000 });
          await execa("virsh", ["-q", "-c", h.uri, "undefine", d], { reject: false, timeout: 30_000 });
        }
        const nets = await execa("virsh", ["-q", "-c", h.uri, "net-list", "--name"], { reject: false, timeout: 30_000 });
        for (const n of String(nets.stdout).split("\n").map((s) => s.trim()).filter(Boolean)) await execa("virsh", ["-q", "-c", h.uri, "net-destroy", n], { reject: false, timeout: 30_000 });
        for (const pidFile of ["libvirtd.pid", "virtlogd.pid"]) await killPidFile(join(h.base, "run", pidFile));
      }
      for (const h of hosts) {
        try {
          process.kill(h.holderPid, "SIGKILL");
        } catch {
          // gone
        }
      }
      for (const p of holders) p.kill("SIGKILL");
      await Promise.allSettled(holders);
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    await rm(root, { recursive: true, force: true });
    await mkdir(root, { recursive: true, mode: 0o755 });
    for (const [label, n] of [["a", 1], ["b", 2]] as const) {
      const base = join(root, label);
      await prepareDirs(base, `${net}.${n}`);
      const hostname = `hvtest-mig-${label}`;
      // The holder: sets up its mounts and hostname, then sleeps; the daemons are started inside its namespaces.
      const script = [
        "set -e",
        ...Object.entries(DIRS).map(([d, target]) => `mount --bind ${join(base, d)} ${target}`),
        // Both daemons would put their qemu processes in the same cgroups (machine/qemu-ID-NAME,
        // and the ids start at 1 on each): without cgroups mounted in its namespace a libvirtd uses none.
        "umount -R /sys/fs/cgroup 2>/dev/null || true",
        `hostname ${hostname}`,
        "ip link set lo up",
        "echo ready",
        "exec sleep infinity",
      ].join("\n");
      const holder = execa("unshare", ["--mount", "--net", "--uts", "--propagation", "private", "--fork", "--kill-child", "--", "bash", "-c", script], { reject: false });
      holders.push(holder);
      await waitFor(async () => (await childOf(holder.pid!)) !== undefined, 15_000, `the ${label} namespaces`);
      const holderPid = (await childOf(holder.pid!))!;
      // The sleep has replaced the setup shell once "ready" is printed.
      await waitFor(async () => (await readFile(`/proc/${holderPid}/comm`, "utf8").catch(() => "")).trim() === "sleep", 15_000, `the ${label} setup`);
      const sock = join(base, "run", "libvirt-sock");
      hosts.push({ label, base, uri: `qemu+unix:///system?socket=${sock}`, tcpUri: `qemu+tcp://${net}.${n}/system`, address: `${net}.${n}`, hostname, holderPid });
    }
    [pair.a, pair.b] = hosts as [PairHost, PairHost];
    // The wire between them.
    const va = `hvtmig${tag}a`;
    const vb = `hvtmig${tag}b`;
    await execa("ip", ["link", "add", va, "type", "veth", "peer", "name", vb]);
    await execa("ip", ["link", "set", va, "netns", String(pair.a.holderPid)]);
    await execa("ip", ["link", "set", vb, "netns", String(pair.b.holderPid)]);
    for (const [h, dev] of [[pair.a, va], [pair.b, vb]] as const) {
      for (const cmd of [["ip", "addr", "add", `${h.address}/24`, "dev", dev], ["ip", "link", "set", dev, "up"]]) {
        const r = await pair.inHost(h, cmd);
        if (!r.ok) throw new Error(`${cmd.join(" ")} in ${h.label}: ${r.stderr}`);
      }
      // Their pid files default to /run/NAME.pid, which this machine's own daemons hold: keep them private.
      for (const daemon of [["virtlogd", "-d", "-p", "/run/libvirt/virtlogd.pid"], ["libvirtd", "-d", "--listen", "-p", "/run/libvirt/libvirtd.pid"]]) {
        const r = await pair.inHost(h, daemon);
        if (!r.ok) throw new Error(`${daemon.join(" ")} in ${h.label} did not start: ${r.stderr || r.stdout}`);
      }
    }
    for (const h of hosts) {
      await waitFor(async () => (await execa("virsh", ["-c", h.uri, "version"], { reject: false, timeout: 10_000 })).exitCode === 0, 60_000, `libvirtd ${h.label} to answer on ${h.uri}`);
      await waitFor(async () => existsSync(join(h.base, "run", "virtlogd-sock")), 15_000, `virtlogd ${h.label}`);
    }
    return pair;
  } catch (err) {
    await pair.stop().catch(() => undefined);
    throw err;
  }
}

/**
 * A host's private directories: /etc/libvirt copied from this machine without its domains,
 * networks and pools (and with TCP on the veth address, no auth, a host UUID of its own); empty
 * run, log, cache; /var/lib/libvirt with the subdirectories (owner and mode) this machine's has.
 */
async function prepareDirs(base: string, address: string): Promise<void> {
  for (const d of Object.keys(DIRS)) await mkdir(join(base, d), { recursive: true, mode: 0o755 });
  await cp("/etc/libvirt", join(base, "etc"), { recursive: true });
  for (const sub of ["qemu", "qemu/autostart", "qemu/networks", "qemu/networks/autostart", "storage", "storage/autostart"]) {
    const dir = join(base, "etc", sub);
    if (!existsSync(dir)) continue;
    for (const f of await readdir(dir)) if (f.endsWith(".xml")) await rm(join(dir, f), { force: true });
  }
  const conf = join(base, "etc", "libvirtd.conf");
  await writeFile(
    conf,
    (await readFile(conf, "utf8")) +
      [
        "",
        "# hv test pair: one of two libvirt hosts on this machine (test/helpers/libvirt-pair.ts)",
        "listen_tls = 0",
        "listen_tcp = 1",
        `listen_addr = "${address}"`,
        'auth_tcp = "none"',
        `host_uuid = "${randomUUID()}"`,
        "",
      ].join("\n"),
  );
  // Both hosts relabel the guest's shared serial log: no remembered owners (xattrs) to fight over.
  const qemuConf = join(base, "etc", "qemu.conf");
  await writeFile(qemuConf, (await readFile(qemuConf, "utf8")) + "\n# hv test pair\nremember_owner = 0\n");
  for (const entry of await readdir("/var/lib/libvirt", { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith("hvtest")) continue;
    const s = await stat(join("/var/lib/libvirt", entry.name));
    const dir = join(base, "lib", entry.name);
    await mkdir(dir, { recursive: true });
    await chown(dir, s.uid, s.gid);
    await chmod(dir, s.mode & 0o7777);
  }
  await mkdir(join(base, "lib", "images"), { recursive: true, mode: 0o711 });
}

async function childOf(pid: number): Promise<number | undefined> {
  const r = await execa("pgrep", ["-P", String(pid)], { reject: false });
  const first = String(r.stdout).split("\n").find(Boolean);
  return first ? Number(first) : undefined;
}

async function killPidFile(file: string): Promise<void> {
  const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  await waitFor(() => !existsSync(`/proc/${pid}`), 15_000, `pid ${pid} to exit`).catch(() => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  });
}
