// A process table built from the audit stream itself: every successful execve records what a pid
// became, fork/clone records who a new pid came from. Later events look up their ppid here to
// get parent fields (Sigma's ParentImage / ParentCommandLine), which no single audit record has.

import type { HvEvent, ProcessRef } from "../../events/event.js";

export interface ProcessEntry {
  pid: number;
  ppid?: number;
  executable?: string;
  name?: string;
  args?: string[];
  uid?: string;
  /** ISO time the process was seen starting (exec or fork). */
  start: string;
}

const FORKS = new Set(["fork", "vfork", "clone", "clone3"]);

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

  private learn(event: HvEvent): void {
    const proc = event.process;
    if (!proc || proc.pid === undefined || event.event.outcome === "failure") return;
    const action = event.event.action;
    if (action === "execve" || action === "execveat") {
      this.set({
        pid: proc.pid, ppid: proc.ppid, executable: proc.executable, name: proc.name,
        args: proc.args, uid: event.user?.id, start: event["@timestamp"],
      });
    } else if (FORKS.has(action) && (event.audit?.exit ?? 0) > 0) {
      // The child starts as a copy of its parent until it execs something else.
      const parent = this.byPid.get(proc.pid);
      this.set({
        pid: event.audit!.exit!, ppid: proc.pid,
        executable: parent?.executable ?? proc.executable, name: parent?.name ?? proc.name,
        args: parent?.args, uid: event.user?.id, start: event["@timestamp"],
      });
    } else if (!this.byPid.has(proc.pid) && proc.executable) {
      // First sight of a process started before hv: remember what little this event says.
      this.set({ pid: proc.pid, ppid: proc.ppid, executable: proc.executable, name: proc.name, uid: event.user?.id, start: event["@timestamp"] });
    }
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
