// hv's one process table, built from the audit stream itself (after laurel's): every successful
// execve records what a pid became, fork/clone records who a new pid came from. Later events look
// up their ppid here to get parent fields (Sigma's ParentImage / ParentCommandLine), which no
// single audit record has.
//
// Entries also carry labels — the VM a process belongs to, and whether it is hv's own doing —
// that children inherit: a forked child starts with its parent's labels, an exec'd image with
// its parent's. VM attribution and self-action marking (src/agent) set and read them, right after
// the table learned from the same event (the decoder's `enrich` hook), so both see the table as it
// was at that point of the stream.

import type { HvEvent, ProcessRef, VmFields } from "../../events/event.js";

export interface ProcessLabels {
  /** The libvirt domain whose qemu this process is, or descends from. */
  vm?: VmFields;
  /** This process is hv's own doing (the agent, an hv command, or something they started). */
  hvSelf?: boolean;
}

export interface ProcessEntry {
  pid: number;
  ppid?: number;
  executable?: string;
  name?: string;
  args?: string[];
  uid?: string;
  /** ISO time the process was seen starting (exec or fork). */
  start: string;
  labels?: ProcessLabels;
}

/** Syscalls that make a new process; the child's pid is their exit value. */
export const FORK_SYSCALLS: ReadonlySet<string> = new Set(["fork", "vfork", "clone", "clone3"]);
/** How far up a parent chain anything walks: deeper chains are loops or not worth following. */
export const MAX_LINEAGE_DEPTH = 32;

/** The pid a successful fork/clone event created, if the event is one. */
export function forkedChild(event: HvEvent): number | undefined {
  return FORK_SYSCALLS.has(event.event.action) && (event.audit?.exit ?? 0) > 0 ? event.audit!.exit! : undefined;
}

export class ProcessTable {
  private readonly byPid = new Map<number, ProcessEntry>();

  constructor(private readonly capacity = 65_536) {}

  get size(): number {
    return this.byPid.size;
  }

  get(pid: number): ProcessEntry | undefined {
    return this.byPid.get(pid);
  }

  /** Fills event.process.parent from the table, then learns from the event. */
  enrich(event: HvEvent): void {
    const proc = event.process;
    if (!proc || event.event.module !== "audit") return;
    if (proc.ppid !== undefined && !proc.parent) {
      const parent = this.byPid.get(proc.ppid);
      if (parent) proc.parent = toRef(parent);
    }
    const target = proc.target?.pid !== undefined ? this.byPid.get(proc.target.pid) : undefined;
    if (target && proc.target) {
      // The record's own name (OBJ_PID ocomm) is what the kernel saw: keep it, add what the table knows.
      const known = toRef(target);
      proc.target = { ...known, ...proc.target, ...(known.executable && { executable: known.executable }) };
    }
    this.learn(event);
  }

  /**
   * The pids up a process's parent chain, itself first: `ppid` (the event's own) for the first
   * step, then the table's, at most MAX_LINEAGE_DEPTH of them, never pid 0 or 1.
   */
  *lineage(pid: number, ppid?: number): Generator<number> {
    let p: number | undefined = pid;
    for (let depth = 0; p !== undefined && p > 1 && depth < MAX_LINEAGE_DEPTH; depth++) {
      yield p;
      p = depth === 0 ? (ppid ?? this.byPid.get(p)?.ppid) : this.byPid.get(p)?.ppid;
    }
  }

  labels(pid: number): ProcessLabels | undefined {
    return this.byPid.get(pid)?.labels;
  }

  /** Adds labels to a process (a bare entry when the table has not seen it), which its children inherit from now on. */
  label(pid: number, labels: ProcessLabels, at: string): void {
    const entry = this.byPid.get(pid);
    if (entry) entry.labels = { ...entry.labels, ...labels };
    else this.set({ pid, start: at, labels: { ...labels } });
  }

  /** Takes the VM label off every process of that domain (it stopped: its pids are about to mean something else). */
  forgetVm(name: string): void {
    for (const entry of this.byPid.values()) {
      if (entry.labels?.vm?.name !== name) continue;
      const { vm: _gone, ...rest } = entry.labels;
      entry.labels = rest;
    }
  }

  private learn(event: HvEvent): void {
    const proc = event.process;
    if (!proc || proc.pid === undefined || event.event.outcome === "failure") return;
    const action = event.event.action;
    const child = forkedChild(event);
    if (action === "execve" || action === "execveat") {
      // A new image: what the pid meant before is gone; the lineage (and its labels) is its parent's.
      this.set({
        pid: proc.pid, ppid: proc.ppid, executable: proc.executable, name: proc.name,
        args: proc.args, uid: event.user?.id, start: event["@timestamp"], ...inherited(this.labelsOf(proc.ppid)),
      });
    } else if (child !== undefined) {
      // The child starts as a copy of its parent until it execs something else.
      const parent = this.byPid.get(proc.pid);
      this.set({
        pid: child, ppid: proc.pid,
        executable: parent?.executable ?? proc.executable, name: parent?.name ?? proc.name,
        args: parent?.args, uid: event.user?.id, start: event["@timestamp"], ...inherited(parent?.labels),
      });
    } else if (!this.byPid.has(proc.pid) && proc.executable) {
      // First sight of a process started before hv: remember what little this event says.
      this.set({ pid: proc.pid, ppid: proc.ppid, executable: proc.executable, name: proc.name, uid: event.user?.id, start: event["@timestamp"], ...inherited(this.labelsOf(proc.ppid)) });
    }
  }

  private labelsOf(pid: number | undefined): ProcessLabels | undefined {
    return pid === undefined ? undefined : this.byPid.get(pid)?.labels;
  }

  private set(entry: ProcessEntry): void {
    // Re-inserting moves the pid to the back, so the oldest untouched entry is evicted first.
    this.byPid.delete(entry.pid);
    this.byPid.set(entry.pid, entry);
    if (this.byPid.size > this.capacity) {
      const oldest = this.byPid.keys().next().value as number;
      this.byPid.delete(oldest);
    }
  }
}

function inherited(labels: ProcessLabels | undefined): { labels?: ProcessLabels } {
  return labels && (labels.vm || labels.hvSelf) ? { labels: { ...labels } } : {};
}

function toRef(entry: ProcessEntry): ProcessRef {
  const ref: ProcessRef = { pid: entry.pid };
  if (entry.executable) ref.executable = entry.executable;
  if (entry.name) ref.name = entry.name;
  if (entry.args) {
    ref.args = entry.args;
    ref.command_line = entry.args.join(" ");
  }
  return ref;
}
