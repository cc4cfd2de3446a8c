// Facts about the machine the agent decides on: which tools exist, whether it may change the network.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export function onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(":").some((dir) => dir !== "" && existsSync(join(dir, command)));
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

const CAP_NET_ADMIN = 12n;

/** Root, or CAP_NET_ADMIN in the effective set: the NixOS service runs as user hv with only that. */
export function hasNetAdmin(): boolean {
  if (isRoot()) return true;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << CAP_NET_ADMIN)) !== 0n;
  } catch {
    return false;
  }
}
