// The one way hv runs a virsh command and reads the tables every caller shares. The VM backend
// (src/vm/virsh.ts), the libvirt collector's inventory, `hv vm audit` and `hv doctor` all come
// through runVirsh, so a missing virsh, a hung libvirtd and libvirt's own error text are met the
// same way everywhere. (The collector's long-running `virsh event --loop` is a stream, not a call:
// it starts its own child through the programs registry.)

import { MissingProgramError, runProgram } from "./programs.js";
import { codeForMessage, LibvirtError, libvirtMessageOf } from "./libvirt-error.js";

/** Most calls take ~15 ms; a minute means libvirtd or qemu is stuck. */
export const VIRSH_TIMEOUT_MS = 60_000;

export interface VirshCall {
  /** The libvirt URI (`-c`). */
  uri: string;
  /** Longer for save, restore, snapshots, migrate; shorter where a caller polls. */
  timeoutMs?: number;
  /** Refuse output larger than this (a domain XML read into memory). */
  maxBytes?: number;
  /** The virsh binary (tests point it elsewhere). */
  bin?: string;
}

/**
 * Runs `virsh -q -c URI ARGS…` (no shell, no stdin, C locale: hv parses its columns and messages)
 * and returns stdout. Every failure is a LibvirtError: virsh missing → connection-failed naming its
 * package; too slow → timeout; too much output → other; a non-zero exit → the code for libvirt's
 * own message.
 */
export async function runVirsh(args: readonly string[], call: VirshCall): Promise<string> {
  const full = ["-q", "-c", call.uri, ...args];
  const timeout = call.timeoutMs ?? VIRSH_TIMEOUT_MS;
  let r;
  try {
    r = await runProgram("virsh", full, { timeout, stdin: "ignore", env: { LC_ALL: "C" }, ...(call.maxBytes !== undefined ? { maxBuffer: call.maxBytes } : {}) }, call.bin);
  } catch (err) {
    if (err instanceof MissingProgramError) throw new LibvirtError("connection-failed", err.message, undefined, args);
    throw new LibvirtError("other", `could not run ${call.bin ?? "virsh"}: ${(err as Error).message}`, undefined, args);
  }
  if (r.timedOut) throw new LibvirtError("timeout", `virsh ${args[0]} did not finish within ${timeout / 1000} s`, undefined, args);
  if (r.isMaxBuffer) throw new LibvirtError("other", `virsh ${args[0]}: output is larger than ${call.maxBytes} bytes`, undefined, args);
  if (r.exitCode !== 0) {
    const stderr = String(r.stderr ?? "");
    const msg = libvirtMessageOf(stderr) ?? (stderr.trim() || `virsh ${args[0]} failed with exit code ${r.exitCode ?? r.signal}`);
    throw new LibvirtError(codeForMessage(msg), msg, msg, args);
  }
  return String(r.stdout ?? "");
}

// ---- tables more than one caller reads ----------------------------------------------------

/** "Key:   value" lines (dominfo, pool-info, vol-info, domjobinfo, version). */
export function keyValues(out: string): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) kv[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return kv;
}

/** One row of `virsh domiflist`. */
export interface InterfaceRow {
  /** The host-side device (vnetN) while running; absent ("-") otherwise. */
  interface?: string;
  type: string;
  source: string;
  model: string;
  mac: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/**
 * `virsh -q domiflist` rows: " vnet0   network   default   virtio   52:54:00:aa:bb:01". Only rows
 * whose fifth column is a MAC count, so a header or ruler line (printed without -q) is skipped.
 */
export function parseDomIfList(out: string): InterfaceRow[] {
  const rows: InterfaceRow[] = [];
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !MAC.test(f[4]!)) continue;
    const [iface, type, source, model, mac] = f as [string, string, string, string, string];
    rows.push({ ...(iface !== "-" ? { interface: iface } : {}), type, source, model, mac });
  }
  return rows;
}
