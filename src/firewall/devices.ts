// Network devices as `ip -j link show` lists them (inside a namespace when one is given): which
// taps exist, and libvirt's tap devices (vnetN) when the caller names none.

import type { NftOptions } from "./state.js";
import { runProgram } from "../events/programs.js";

/** Names of the network devices present. */
export async function presentDevices(opts: Pick<NftOptions, "netns"> = {}): Promise<Set<string>> {
  const args = ["-j", "link", "show"];
  const r = await runProgram("ip", opts.netns ? ["netns", "exec", opts.netns, "ip", ...args] : args);
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(" ")} failed${opts.netns ? ` in netns ${opts.netns}` : ""}: ${r.stderr.trim() || r.shortMessage}`);
  return new Set((JSON.parse(String(r.stdout) || "[]") as Array<{ ifname: string }>).map((l) => l.ifname));
}

/** libvirt names the tap of a VM's bridged or network interface vnetN (unless its XML sets a target dev). */
export async function libvirtTaps(opts: Pick<NftOptions, "netns"> = {}): Promise<string[]> {
  return [...(await presentDevices(opts))].filter((d) => /^vnet\d+$/.test(d)).sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
}
