// The host operations that need root: signal a process (after making sure the pid still is the
// process meant), lock and unlock an account. Every safety check lives here, once: the actions
// call these directly when hv runs as root, and the privileged helper calls them for an
// unprivileged hv — it re-checks everything itself and trusts nothing the caller says beyond
// what narrows the operation.

import { ActionError, refuse } from "../events/errors.js";
import { ownLineage, PF_KTHREAD, readProc, type ProcInfo } from "./proc.js";
import type { KillRequest, KillResult, LockRequest, LockResult, ShadowState, UnlockRequest, UnlockResult } from "./protocol.js";
import { runProgram } from "../events/programs.js";

/** What the one running the operation allows beyond the request. */
export interface HostPolicy {
  /** Whether a request's systemUsers may reach root's and system users' processes and accounts. */
  allowSystemUsers: boolean;
  /** Says how to allow system users, in refusals ("set system_users: true", a helper flag). */
  systemUsersHint: string;
}

/** Only uid 1000 and up are people (Debian, NixOS); below are root and system accounts. */
export const FIRST_PERSON_UID = 1000;
/** btime has whole seconds, so the start time is only good to about a second. */
const START_SLACK_MS = 2000;
const WAIT_GONE_MS = 3000;

function systemUsersAllowed(req: { systemUsers?: boolean | undefined }, policy: HostPolicy): boolean {
  return req.systemUsers === true && policy.allowSystemUsers;
}

/** Why this process must not be killed, or undefined. */
function dangerous(p: ProcInfo, req: KillRequest, policy: HostPolicy): string | undefined {
  if (p.pid === 1) return "pid 1 is init";
  if (p.pid === 2 || p.ppid === 2 || (p.flags & PF_KTHREAD) !== 0) return `pid ${p.pid} is a kernel thread`;
  if (ownLineage().includes(p.pid) || req.protect?.pids?.includes(p.pid)) return `pid ${p.pid} is hv itself or one of its parents`;
  if (p.exe && req.protect?.executables?.includes(p.exe)) return `${p.exe} is allowlisted`;
  if (!systemUsersAllowed(req, policy) && (p.uid < FIRST_PERSON_UID || p.euid < FIRST_PERSON_UID)) {
    return `pid ${p.pid} runs as uid ${Math.min(p.uid, p.euid)} (root or a system user; ${policy.systemUsersHint})`;
  }
  // A qemu process is a VM: one the allowlist protects stays up.
  const guest = p.exe && /qemu-system/.test(p.exe) ? /(?:^| )-name (?:guest=)?([^, ]+)/.exec(p.cmdline)?.[1] : undefined;
  if (guest && req.protect?.vms?.includes(guest)) return `VM ${guest} is allowlisted`;
  return undefined;
}

/** Why the live process is not the one meant, or undefined when it is. */
function notTheSame(p: ProcInfo, req: KillRequest): string | undefined {
  if (req.expectExe !== undefined) {
    if (p.exe !== req.expectExe) return `pid ${p.pid} is now ${p.exe ?? "(no executable)"}, not ${req.expectExe}: the pid was reused`;
  } else if (req.expectCmdline !== undefined) {
    if (p.cmdline !== req.expectCmdline) return `pid ${p.pid} now runs "${p.cmdline.slice(0, 200)}", not "${req.expectCmdline.slice(0, 200)}": the pid was reused`;
  } else {
    return `cannot confirm pid ${p.pid} is the process the alert saw (it names no executable or command line)`;
  }
  if (req.notStartedAfter !== undefined && p.startMs > req.notStartedAfter + START_SLACK_MS) {
    return `pid ${p.pid} started at ${new Date(p.startMs).toISOString()}, after the alert's last event (${new Date(req.notStartedAfter).toISOString()}): the pid was reused`;
  }
  return undefined;
}

/**
 * Signals the process when it still is the one meant and may be signalled; refuses (ActionError
 * with refused) otherwise. A pid that is gone is `alreadyGone`, not an error. Waits up to 3 s for
 * the process to end.
 */
export async function killVerified(req: KillRequest, policy: HostPolicy): Promise<KillResult> {
  const live = readProc(req.pid);
  if (!live || live.state === "Z") return { pid: req.pid, alreadyGone: true, gone: true };
  const detail = { pid: req.pid, ...(live.exe ? { exe: live.exe } : {}), cmdline: live.cmdline.slice(0, 200) };
  const danger = dangerous(live, req, policy);
  if (danger) throw refuse(`refused: ${danger}`, detail);
  const other = notTheSame(live, req);
  if (other) throw refuse(`refused: ${other}`, detail);
  try {
    process.kill(req.pid, req.signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return { pid: req.pid, alreadyGone: true, gone: true };
    throw new ActionError(`signalling pid ${req.pid} failed: ${(err as Error).message}`, { detail });
  }
  const gone = await waitGone(req.pid, WAIT_GONE_MS);
  return { pid: req.pid, alreadyGone: false, ...(live.exe ? { exe: live.exe } : {}), signal: req.signal, gone };
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const p = readProc(pid);
    if (!p || p.state === "Z") return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function uidOf(user: string): Promise<number> {
  const r = await runProgram("getent", ["passwd", "--", user]);
  if (r.exitCode !== 0) throw new ActionError(`no host user ${user}`);
  const uid = Number(r.stdout.split(":")[2]);
  if (!Number.isInteger(uid)) throw new ActionError(`getent passwd ${user} printed no uid`);
  return uid;
}

export async function shadowState(user: string): Promise<ShadowState> {
  const r = await runProgram("getent", ["shadow", "--", user]);
  if (r.exitCode !== 0) throw new ActionError(`no shadow entry for ${user} (is hv root?)`);
  const f = r.stdout.trim().split(":");
  return { locked: (f[1] ?? "").startsWith("!"), expire: f[7] ?? "" };
}

/** The account's uid, after refusing root and (unless allowed) system accounts. */
async function checkedAccount(req: { user: string; systemUsers?: boolean | undefined }, policy: HostPolicy): Promise<number> {
  if (req.user === "root") throw refuse("refused: root is never locked");
  const uid = await uidOf(req.user);
  if (uid === 0) throw refuse(`refused: ${req.user} has uid 0 (root)`);
  if (uid < FIRST_PERSON_UID && !systemUsersAllowed(req, policy)) {
    throw refuse(`refused: ${req.user} is a system account (uid ${uid} < ${FIRST_PERSON_UID}); ${policy.systemUsersHint}`);
  }
  return uid;
}

function today(): number {
  return Math.floor(Date.now() / 86_400_000);
}

// usermod, never a shell: the user name is checked by the caller's schema and follows "--".
async function usermod(args: string[], user: string): Promise<void> {
  const r = await runProgram("usermod", [...args, "--", user]);
  if (r.exitCode !== 0) throw new ActionError(`usermod ${args.join(" ")} ${user} failed (${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
}

/** `usermod -L -e 1`: password locked, account expired. Returns the state before, for the undo. */
export async function lockAccount(req: LockRequest, policy: HostPolicy): Promise<LockResult> {
  const uid = await checkedAccount(req, policy);
  const previous = await shadowState(req.user);
  const expired = previous.expire !== "" && Number(previous.expire) <= today();
  if (previous.locked && expired) return { user: req.user, uid, previous, changed: false };
  await usermod(["-L", "-e", "1"], req.user);
  return { user: req.user, uid, previous, changed: true };
}

/**
 * Puts back what lockAccount found: unlocks the password only if it was not locked before, and
 * restores the expiry. Nothing to do is `changed: false`.
 */
export async function unlockAccount(req: UnlockRequest, policy: HostPolicy): Promise<UnlockResult> {
  await checkedAccount(req, policy);
  const now = await shadowState(req.user);
  const args: string[] = [];
  if (now.locked && !req.previous.locked) args.push("-U");
  if (now.expire !== req.previous.expire) args.push("-e", req.previous.expire);
  if (args.length > 0) await usermod(args, req.user);
  return { user: req.user, changed: args.length > 0, restored: req.previous };
}
