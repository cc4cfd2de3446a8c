// What /proc says of a process: enough to tell whether a pid still is the process an alert saw
// (executable, command line, start time) and whether it may be signalled (owner, kernel thread,
// parent). /proc/PID/exe of another user's process needs root (or CAP_SYS_PTRACE): read
// unprivileged, `exe` is absent for those.

import { readFileSync, readlinkSync } from "node:fs";

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** R, S, D, Z, … */
  state: string;
  /** PF_* flags (PF_KTHREAD marks kernel threads). */
  flags: number;
  /** ms since the epoch, to the clock tick. */
  startMs: number;
  /** /proc/PID/exe without " (deleted)"; absent for kernel threads (and unreadable ones). */
  exe?: string;
  /** argv joined with spaces. */
  cmdline: string;
  uid: number;
  euid: number;
}

export const PF_KTHREAD = 0x00200000;
// USER_HZ: what /proc/PID/stat counts in, 100 on every Linux architecture hv runs on.
const TICKS_PER_SECOND = 100;

let bootMs: number | undefined;
function bootTimeMs(): number {
  if (bootMs === undefined) {
    const m = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
    bootMs = m ? Number(m[1]) * 1000 : 0;
  }
  return bootMs;
}

/** The process as /proc has it now, or undefined when there is no such pid. */
export function readProc(pid: number): ProcInfo | undefined {
  let stat: string;
  let status: string;
  let cmdline: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    status = readFileSync(`/proc/${pid}/status`, "utf8");
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return undefined;
  }
  // The name in parentheses may itself contain spaces and ")": the fields start after the last ")".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  let exe: string | undefined;
  try {
    exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
  } catch {
    exe = undefined;
  }
  return {
    pid,
    ppid: Number(f[1]),
    state: f[0] ?? "?",
    flags: Number(f[6]),
    startMs: bootTimeMs() + (Number(f[19]) * 1000) / TICKS_PER_SECOND,
    ...(exe !== undefined ? { exe } : {}),
    cmdline: cmdline.split("\0").filter(Boolean).join(" "),
    uid: uids ? Number(uids[1]) : -1,
    euid: uids ? Number(uids[2]) : -1,
  };
}

/** This process and every ancestor up to pid 1: killing any of them stops hv (or the host). */
export function ownLineage(): number[] {
  const out = new Set<number>();
  for (let pid = process.pid; pid > 0 && !out.has(pid); ) {
    out.add(pid);
    pid = readProc(pid)?.ppid ?? 0;
  }
  return [...out];
}
