// kill_process: signals a host process named by the alert — after making sure the pid still is
// that process. Pids are reused; an alert about a shell that has since exited must not kill
// whatever got its pid. The checks and the signal are the host operation killVerified
// (src/privileged/host-ops.ts), run in hv when it is root, else by the privileged helper; this
// action says what is meant and what the allowlist protects.

import { z } from "zod";
import { hostOps } from "../../privileged/host-ops-choice.js";
import { ownLineage } from "../../privileged/proc.js";
import type { KillRequest } from "../../privileged/protocol.js";
import type { ActionDefinition, ActionOutcome } from "../action.js";
import { refuse } from "../../events/errors.js";
import { expectKind } from "./common.js";

const params = z.strictObject({
  signal: z.enum(["KILL", "TERM"]).default("KILL"),
  /** Also processes of root and of system users (uid < 1000). */
  system_users: z.boolean().default(false),
});

export type KillProcessParams = z.infer<typeof params>;

export const killProcess: ActionDefinition<KillProcessParams> = {
  name: "kill_process",
  risk: "kills a host process: its work is lost and cannot be brought back",
  summary: "signal the host process the alert names (after checking the pid was not reused)",
  params,
  targetOf(alert) {
    const pid = alert?.process?.pid;
    if (pid === undefined) return { error: "the alert names no process id (process.pid)" };
    if (!Number.isInteger(pid) || pid < 2) return { error: `process.pid ${pid} is not a process hv may signal` };
    const executable = alert?.process?.executable;
    return { kind: "process", pid, ...(executable ? { executable } : {}) };
  },
  async run({ env, params: p, target, alert }): Promise<ActionOutcome> {
    const t = expectKind(target, "process");
    const expectExe = t.executable ?? alert?.process?.executable;
    // Checked here too: unprivileged, hv cannot read another user's /proc/PID/exe, but the helper
    // only signals a process whose executable is expectExe.
    const allowlisted = expectExe ? env.allowlist.process(expectExe) : undefined;
    if (allowlisted) throw refuse(`refused: ${allowlisted}`, { pid: t.pid, exe: expectExe });
    const lastSeen = alert ? Date.parse(alert.last_seen) : NaN;
    const protected_ = env.allowlist.describe();
    const req: KillRequest = {
      pid: t.pid,
      signal: `SIG${p.signal}`,
      ...(expectExe ? { expectExe } : alert?.process?.command_line ? { expectCmdline: alert.process.command_line } : {}),
      ...(Number.isFinite(lastSeen) ? { notStartedAfter: lastSeen } : {}),
      systemUsers: p.system_users,
      protect: { pids: ownLineage(), executables: protected_.processes, vms: protected_.vms },
    };
    const ops = hostOps();
    const r = await ops.kill(req);
    if (r.alreadyGone) return { result: `pid ${t.pid} is already gone`, unchanged: true };
    const detail = { pid: t.pid, exe: r.exe, signal: p.signal, gone: r.gone, via: ops.via };
    return { result: r.gone ? `killed pid ${t.pid} (${r.exe}) with SIG${p.signal}` : `sent SIG${p.signal} to pid ${t.pid} (${r.exe}); it is still running`, detail };
  },
};
