// Network namespaces and veth pairs for network tests, all named with one prefix so a test deletes
// exactly what it made (and what an earlier crashed run of the same test left), never anything else.
//
//   const lab = new NetnsLab("hvct");          // namespaces hvct-<name>, links hvct-<name>…
//   await lab.cleanup();                        // leftovers of an earlier run
//   const a = await lab.namespace("a"), b = await lab.namespace("b");
//   await lab.link({ ns: a, ip: "10.1.0.1/24" }, { ns: b, ip: "10.1.0.2/24" });
//   await lab.exec(b, "nft", ["add", "table", "inet", "t"]);
//   …; await lab.cleanup();                     // in afterAll, even when a test failed
//
// Use only 10.x, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32 addresses inside.

import { execa, type Options, type ResultPromise } from "execa";
import { existsSync } from "node:fs";

export interface LinkEnd {
  /** Namespace name (as returned by namespace()). */
  ns: string;
  /** Interface name; default <prefix>-<n> numbered by the lab (at most 15 characters). */
  ifname?: string;
  /** Addresses with prefix length, IPv4 or IPv6 ("10.1.0.1/24", "2001:db8:1::1/64"). */
  ip?: string | string[];
}

/** Why namespaces and the given tools cannot be used here, or undefined if they can. */
export function whyNoNetns(tools: string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root (network namespaces need CAP_SYS_ADMIN)";
  for (const tool of ["ip", ...tools]) {
    if (!onPath(tool)) return `${tool} is not installed`;
  }
  return undefined;
}

/**
 * The skip reason for a describe.skipIf(), printed loudly; under CI=true a missing tool throws
 * instead, because CI installs everything and a silent skip there would hide a broken setup.
 */
export function netnsSkipReason(tools: string[] = []): string | undefined {
  const reason = whyNoNetns(tools);
  if (reason === undefined) return undefined;
  if (process.env.CI === "true") throw new Error(`network-namespace tests cannot run under CI: ${reason}`);
  console.warn(`\n*** SKIPPING network-namespace tests: ${reason} ***\n`);
  return reason;
}

export class NetnsLab {
  private links = 0;

  /** prefix: short (≤ 8 characters) so interface names fit in 15. */
  constructor(readonly prefix: string) {
    if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new Error(`netns prefix must be 1-8 lower-case letters/digits: ${prefix}`);
  }

  /** Creates namespace <prefix>-<name> with lo up; returns its name. */
  async namespace(name: string): Promise<string> {
    const ns = `${this.prefix}-${name}`;
    await execa("ip", ["netns", "add", ns]);
    await execa("ip", ["-n", ns, "link", "set", "lo", "up"]);
    return ns;
  }

  /** A veth pair between two namespaces, both ends up, with their addresses (IPv6 without DAD delay). */
  async link(a: LinkEnd, b: LinkEnd): Promise<{ a: string; b: string }> {
    const n = this.links++;
    const ifa = a.ifname ?? `${this.prefix}-${n}a`;
    const ifb = b.ifname ?? `${this.prefix}-${n}b`;
    await execa("ip", ["link", "add", ifa, "netns", a.ns, "type", "veth", "peer", "name", ifb, "netns", b.ns]);
    for (const [end, ifname] of [[a, ifa], [b, ifb]] as const) {
      for (const ip of [end.ip ?? []].flat()) {
        await execa("ip", ["-n", end.ns, "addr", "add", ip, "dev", ifname, ...(ip.includes(":") ? ["nodad"] : [])]);
      }
      await execa("ip", ["-n", end.ns, "link", "set", ifname, "up"]);
    }
    return { a: ifa, b: ifb };
  }

  /** Runs a command inside a namespace. */
  exec(ns: string, cmd: string, args: string[] = [], opts: Options = {}): ResultPromise {
    return execa("ip", ["netns", "exec", ns, cmd, ...args], opts);
  }

  /** The namespaces with this lab's prefix that exist now. */
  async list(): Promise<string[]> {
    const { stdout } = await execa("ip", ["netns", "list"]);
    return stdout
      .split("\n")
      .map((l) => l.split(" ")[0]!)
      .filter((n) => n.startsWith(`${this.prefix}-`));
  }

  /** Kills what still runs in this lab's namespaces and deletes them (their veth ends go with them). */
  async cleanup(): Promise<void> {
    for (const ns of await this.list()) {
      const { stdout } = await execa("ip", ["netns", "pids", ns], { reject: false });
      for (const pid of stdout.split("\n").filter((p) => /^\d+$/.test(p))) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // already gone
        }
      }
      await execa("ip", ["netns", "del", ns], { reject: false });
    }
  }
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":").some((dir) => existsSync(`${dir}/${tool}`));
}
