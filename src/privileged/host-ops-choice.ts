// Where the root-only host operations run: in hv itself when it is root, else in the privileged
// helper named by HV_PRIVILEGED_SOCKET (the NixOS module sets it for the unprivileged hv-monitor).

import { ActionError } from "../events/errors.js";
import { askHelper } from "./client.js";
import { killVerified, lockAccount, unlockAccount, type HostPolicy } from "./host-ops.js";
import type { KillRequest, KillResult, LockRequest, LockResult, UnlockRequest, UnlockResult } from "./protocol.js";

export interface HostOps {
  /** "root" (in this process) or the helper's socket path, for logs and details. */
  via: string;
  kill(req: KillRequest): Promise<KillResult>;
  lockAccount(req: LockRequest): Promise<LockResult>;
  unlockAccount(req: UnlockRequest): Promise<UnlockResult>;
}

// As root, hv itself decides: a playbook's system_users is the only gate (after the allowlist).
const ROOT_POLICY: HostPolicy = { allowSystemUsers: true, systemUsersHint: "set system_users: true to allow" };

export const directHostOps: HostOps = {
  via: "root",
  kill: (req) => killVerified(req, ROOT_POLICY),
  lockAccount: (req) => lockAccount(req, ROOT_POLICY),
  unlockAccount: (req) => unlockAccount(req, ROOT_POLICY),
};

export function helperHostOps(socketPath: string, timeoutMs?: number): HostOps {
  return {
    via: socketPath,
    kill: (req) => askHelper(socketPath, { op: "kill", ...req }, timeoutMs),
    lockAccount: (req) => askHelper(socketPath, { op: "lock-account", ...req }, timeoutMs),
    unlockAccount: (req) => askHelper(socketPath, { op: "unlock-account", ...req }, timeoutMs),
  };
}

/** Root → in this process; else HV_PRIVILEGED_SOCKET → the helper; else an error saying so. */
export function hostOps(env: NodeJS.ProcessEnv = process.env): HostOps {
  if (process.getuid?.() === 0) return directHostOps;
  const socket = env.HV_PRIVILEGED_SOCKET;
  if (socket) return helperHostOps(socket);
  throw new ActionError("needs root or the privileged helper (HV_PRIVILEGED_SOCKET)");
}
