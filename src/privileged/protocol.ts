// The privileged helper's wire format: one JSON request per line, one JSON reply per line, in
// order. Every request is checked strictly (unknown ops and unknown fields are refused); the same
// types are what the host operations take when hv runs them itself as root.

import { z } from "zod";

/** Longest request line the helper reads; a longer one gets an error reply and is skipped. */
export const MAX_LINE_BYTES = 64 * 1024;
/** Longest expected command line (a longer one cannot be sent, so cannot be checked). */
export const MAX_CMDLINE_CHARS = 32 * 1024;

/** A user name usermod takes; never one that starts with "-" (it would be an option). */
export const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\$?$/;

const absolutePath = z
  .string()
  .min(2)
  .max(4096)
  .regex(/^\/[^\0]*$/, "must be an absolute path");
const userName = z.string().regex(USER_NAME, "is not a valid user name");

/**
 * Signal a process, after checking it still is the process meant. `protect` only narrows what may
 * be killed (the caller's own pids, its allowlisted programs and VMs), so the helper may take it
 * from the caller.
 */
export const killRequest = z.strictObject({
  pid: z.number().int().min(1).max(4_194_304),
  signal: z.enum(["SIGKILL", "SIGTERM"]),
  expectExe: absolutePath.optional(),
  expectCmdline: z.string().min(1).max(MAX_CMDLINE_CHARS).optional(),
  /** ms since the epoch: a process started later (plus clock slack) is not the one meant. */
  notStartedAfter: z.number().int().min(0).optional(),
  /** Also root's and system users' processes (the helper needs --allow-system-users too). */
  systemUsers: z.boolean().optional(),
  protect: z
    .strictObject({
      pids: z.array(z.number().int().min(1)).max(1024).optional(),
      executables: z.array(absolutePath).max(1024).optional(),
      vms: z.array(z.string().min(1).max(256)).max(4096).optional(),
    })
    .optional(),
});
export type KillRequest = z.infer<typeof killRequest>;

export const lockRequest = z.strictObject({
  user: userName,
  /** Also accounts with uid < 1000, never root (the helper needs --allow-system-users too). */
  systemUsers: z.boolean().optional(),
});
export type LockRequest = z.infer<typeof lockRequest>;

/** The shadow fields a lock changes, as `getent shadow` prints them. */
export const shadowStateSchema = z.strictObject({
  /** The password field starts with "!": password login is locked. */
  locked: z.boolean(),
  /** Days since the epoch after which the account is expired; "" for never. */
  expire: z.string().regex(/^\d{0,7}$/, "must be a day number or empty"),
});
export type ShadowState = z.infer<typeof shadowStateSchema>;

export const unlockRequest = z.strictObject({
  user: userName,
  /** What the lock found (lockAccount's `previous`): put back as it was. */
  previous: shadowStateSchema,
  systemUsers: z.boolean().optional(),
});
export type UnlockRequest = z.infer<typeof unlockRequest>;

export const request = z.discriminatedUnion("op", [
  killRequest.extend({ op: z.literal("kill") }),
  lockRequest.extend({ op: z.literal("lock-account") }),
  unlockRequest.extend({ op: z.literal("unlock-account") }),
]);
export type Request = z.infer<typeof request>;
export type Op = Request["op"];

export const killResult = z.strictObject({
  pid: z.number(),
  /** There was no such process (or only its zombie): nothing was signalled. */
  alreadyGone: z.boolean(),
  exe: z.string().optional(),
  signal: z.string().optional(),
  /** The process ended within the wait after the signal. */
  gone: z.boolean(),
});
export type KillResult = z.infer<typeof killResult>;

export const lockResult = z.strictObject({
  user: z.string(),
  uid: z.number(),
  previous: shadowStateSchema,
  /** False: it was already locked and expired. */
  changed: z.boolean(),
});
export type LockResult = z.infer<typeof lockResult>;

export const unlockResult = z.strictObject({
  user: z.string(),
  changed: z.boolean(),
  restored: shadowStateSchema,
});
export type UnlockResult = z.infer<typeof unlockResult>;

export const resultOf = { kill: killResult, "lock-account": lockResult, "unlock-account": unlockResult } as const;

export const reply = z.union([
  z.strictObject({ ok: z.literal(true), result: z.record(z.string(), z.unknown()) }),
  z.strictObject({ ok: z.literal(false), error: z.string(), refused: z.boolean().optional() }),
]);
export type Reply = z.infer<typeof reply>;

/** "field: message; field: message" for a zod error, for replies and logs. */
export function describeIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join(".") : "(request)"}: ${i.message}`).join("; ");
}
