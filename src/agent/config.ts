// The agent's embedded defaults. Everything works without a config file; flags override.

import { accessSync, constants, existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const DEFAULT_AUDIT_LOG = "/var/log/audit/audit.log";
/** Where auditd's builtin af_unix plugin listens (/etc/audit/plugins.d/af_unix.conf). */
export const DEFAULT_AUDISP_SOCKET = "/var/run/audispd_events";

export interface Retention {
  maxAgeMs: number;
  maxBytes: number;
}

export const DEFAULT_RETENTION: Retention = { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 2 * 1024 ** 3 };

export function defaultStateDir(): string {
  if (process.env.HV_STATE_DIR) return process.env.HV_STATE_DIR;
  if (process.getuid?.() === 0) return "/var/lib/hv";
  return join(process.env.XDG_STATE_HOME ?? join(homedir(), ".local", "state"), "hv");
}

export type AuditSourceChoice = { kind: "socket"; path: string } | { kind: "file"; path: string } | { kind: "none"; reasons: string[] };

/** Picks the live audit source: the audisp socket when it exists, else the log file when readable. */
export function detectAuditSource(socketPath = DEFAULT_AUDISP_SOCKET, logPath = DEFAULT_AUDIT_LOG): AuditSourceChoice {
  const reasons: string[] = [];
  try {
    if (statSync(socketPath).isSocket()) {
      accessSync(socketPath, constants.R_OK | constants.W_OK);
      return { kind: "socket", path: socketPath };
    }
    reasons.push(`${socketPath}: not a socket`);
  } catch (err) {
    reasons.push(`${socketPath}: ${describe(err)}`);
  }
  try {
    accessSync(logPath, constants.R_OK);
    return { kind: "file", path: logPath };
  } catch (err) {
    reasons.push(`${logPath}: ${describe(err)}${existsSync(logPath) ? " (run as root or a member of the log's group)" : ""}`);
  }
  return { kind: "none", reasons };
}

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "does not exist";
  if (code === "EACCES") return "permission denied";
  return code ?? String(err);
}
