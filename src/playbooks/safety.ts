// The checks no playbook can get around (docs/playbooks.md "Safety"). The engine makes them when
// it decides AND again right before an action runs, so an approval given hours later, or an
// allowlist changed in between, still cannot reach a protected target.

import { readlinkSync } from "node:fs";
import type { Allowlist } from "../events/allowlist.js";
import type { ActionTarget } from "./action.js";

/** Actions that only give back or tell: they may touch an allowlisted target. */
export const ALLOWLIST_EXEMPT: ReadonlySet<string> = new Set(["notify", "release_vm", "resume_vm"]);

/** Actions that start a quarantine: the global hourly limit counts them. */
export const QUARANTINE_ACTIONS: readonly string[] = ["quarantine_vm"];

export const DEFAULT_MAX_QUARANTINES_PER_HOUR = 3;

/** The program a live process runs, when /proc tells (hv may lack the right to read it). */
export function liveExecutable(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
  } catch {
    return undefined;
  }
}

/** Why `action` must not touch `target`, or undefined when it may. */
export function allowlistRefusal(allowlist: Allowlist, action: string, target: ActionTarget, exeOf: (pid: number) => string | undefined = liveExecutable): string | undefined {
  if (ALLOWLIST_EXEMPT.has(action)) return undefined;
  switch (target.kind) {
    case "vm":
      return allowlist.vm({ name: target.name, ...(target.uuid ? { uuid: target.uuid } : {}) });
    case "ip":
      return allowlist.address(target.address);
    case "user":
      return allowlist.user(target.name);
    case "process": {
      if (!Number.isInteger(target.pid) || target.pid <= 1) return `process ${target.pid} is never acted on`;
      if (target.pid === process.pid) return `process ${target.pid} is hv itself`;
      // The alert's program and the one the pid runs now: a pid may have been reused, or exec'd.
      const programs = [target.executable, exeOf(target.pid)].filter((p): p is string => p !== undefined);
      if (programs.length === 0) return `cannot tell which program process ${target.pid} runs, so cannot tell it is not allowlisted`;
      for (const p of programs) {
        const why = allowlist.process(p);
        if (why) return why;
      }
      return undefined;
    }
    case "host":
      return undefined;
  }
}
