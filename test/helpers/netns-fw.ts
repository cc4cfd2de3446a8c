// Network namespaces for the firewall tests (prefix hvfw): created per test, always deleted.
// A namespace has its own nftables ruleset, so hv's tables there never meet the host's.

import { execa } from "execa";
import { randomBytes } from "node:crypto";
import { whyNoNft } from "../../src/firewall/nft.js";

/** Why the nft tests cannot run here, or undefined. Under CI=true a missing tool is a failure. */
export async function whyNoNetnsNft(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "not running as root (network namespaces and nft need it)";
  const ip = await execa("ip", ["-V"], { reject: false }).catch(() => undefined);
  if (!ip || ip.exitCode !== 0) return "ip (iproute2) is missing";
  const why = await whyNoNft();
  if (why) return `${why} (Debian package nftables)`;
  const ncat = await execa("ncat", ["--version"], { reject: false }).catch(() => undefined);
  if (!ncat || ncat.exitCode !== 0) return "ncat is missing (Debian package ncat)";
  return undefined;
}

/** Skips loudly, or fails under CI=true, when the tools are missing. */
export async function requireNetnsNft(): Promise<boolean> {
  const why = await whyNoNetnsNft();
  if (!why) return true;
  if (process.env.CI === "true") throw new Error(`firewall tests cannot run in CI: ${why}`);
  console.warn(`SKIPPING firewall namespace tests: ${why}`);
  return false;
}

const created = new Set<string>();

export async function sh(ns: string, cmd: string[], opts: { reject?: boolean; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa("ip", ["netns", "exec", ns, ...cmd], { reject: false, timeout: opts.timeoutMs ?? 20_000 });
  const out = { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
  if (opts.reject !== false && out.code !== 0) throw new Error(`in ${ns}: ${cmd.join(" ")} exited ${out.code}: ${out.stderr || out.stdout}`);
  return out;
}

export async function addNetns(role: string): Promise<string> {
  const name = `hvfw-${role}-${randomBytes(3).toString("hex")}`;
  await execa("ip", ["netns", "add", name]);
  created.add(name);
  await sh(name, ["ip", "link", "set", "lo", "up"]);
  return name;
}

export async function deleteNetns(name: string): Promise<void> {
  await execa("ip", ["netns", "del", name], { reject: false });
  created.delete(name);
}

export async function deleteAllNetns(): Promise<void> {
  for (const name of [...created]) await deleteNetns(name);
}

/** A veth pair between two namespaces, each end up with the given addresses (CIDR notation). */
export async function link(a: { ns: string; dev: string; addrs: string[] }, b: { ns: string; dev: string; addrs: string[] }): Promise<void> {
  await sh(a.ns, ["ip", "link", "add", a.dev, "type", "veth", "peer", "name", b.dev, "netns", b.ns]);
  for (const end of [a, b]) {
    for (const addr of end.addrs) await sh(end.ns, ["ip", "addr", "add", addr, "dev", end.dev, ...(addr.includes(":") ? ["nodad"] : [])]);
    await sh(end.ns, ["ip", "link", "set", end.dev, "up"]);
  }
}

/** A TCP listener (ncat, keeps accepting) in a namespace; returns its stop function. */
export async function listen(ns: string, addr: string, port: number): Promise<() => Promise<void>> {
  const child = execa("ip", ["netns", "exec", ns, "ncat", "-lk", addr, String(port)], { reject: false, stdin: "ignore" });
  // Wait until it listens.
  for (let i = 0; i < 50; i++) {
    const r = await sh(ns, ["ss", "-Htln", `sport = :${port}`], { reject: false });
    if (r.stdout.trim()) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  return async () => {
    child.kill("SIGTERM");
    await child;
  };
}

/** Whether a TCP connection from `ns` to addr:port completes within ~1.5 s. */
export async function tcpConnects(ns: string, addr: string, port: number): Promise<boolean> {
  const r = await sh(ns, ["ncat", "-z", "-w", "1.5", addr, String(port)], { reject: false, timeoutMs: 10_000 });
  return r.code === 0;
}

/** `nft -j list table …` in a namespace, as text (for byte-identical comparisons). */
export async function listTableText(ns: string, family: string, name: string): Promise<string> {
  return (await sh(ns, ["nft", "-j", "list", "table", family, name])).stdout;
}
