// What travels on the fleet subjects, checked with zod on the way in: a message from the network
// is untrusted input. A bad one is counted and skipped with the field that is wrong; it never
// throws out of a consumer.

import { z } from "zod";
import { SEVERITIES, type Alert } from "../events/alert.js";
import { canonicalTarget } from "./target.js";

const MAX_TTL_MS = 365 * 86_400_000;

/** A fleet-wide block or unblock order on `hv.fleet.blocks`. Strict: an unknown field is refused, not ignored. */
export const blockMessageSchema = z.strictObject({
  v: z.literal(1),
  /** Unique per order; also its Nats-Msg-Id, so a resent order is stored once. */
  id: z.string().min(1).max(128),
  op: z.enum(["block", "unblock"]),
  /** An address or CIDR, IPv4 or IPv6, no wider than /8 (IPv4) or /32 (IPv6). */
  target: z
    .string()
    .min(1)
    .max(64)
    .superRefine((t, ctx) => {
      const c = canonicalTarget(t);
      if ("error" in c) ctx.addIssue({ code: "custom", message: c.error });
    }),
  /** How long the block holds from `at`; absent: until unblocked. */
  ttlMs: z.int().min(1000).max(MAX_TTL_MS).optional(),
  reason: z.string().max(500).optional(),
  /** The host (or operator machine) that sent it. */
  origin: z.string().min(1).max(255),
  /** Who asked for it, e.g. a user name. */
  by: z.string().max(255).optional(),
  at: z.iso.datetime({ offset: true }),
});

export type BlockMessage = z.infer<typeof blockMessageSchema>;

/** A response action's result on `hv.<host>.actions`. */
export const actionResultSchema = z.object({
  v: z.literal(1),
  host: z.string().min(1).max(255),
  /** The action's row in the host's store. */
  actionId: z.int().optional(),
  playbook: z.string().max(255),
  action: z.string().max(255),
  /** monitor | automatic | confirm … as the engine recorded it. */
  mode: z.string().max(64),
  /** done | failed | refused | pending | undone … */
  status: z.string().max(64),
  /** vm:NAME, ip:ADDR, process:PID, user:NAME, host. */
  target: z.string().max(512).optional(),
  result: z.string().max(4096).optional(),
  unchanged: z.boolean().optional(),
  alertId: z.int().optional(),
  ruleId: z.string().max(255).optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
  at: z.iso.datetime({ offset: true }),
});

export type ActionResultMessage = z.infer<typeof actionResultSchema>;

/** What the playbook engine hands to publishActionResult: the message without what the publisher fills in. */
export type FleetActionResult = Omit<ActionResultMessage, "v" | "host" | "at"> & { at?: string };

// Only what the fleet view reads is checked; the rest of the alert passes through as sent, so a
// newer agent's extra fields still reach a JSON consumer.
const alertSchema = z.looseObject({
  rule: z.looseObject({ id: z.string(), title: z.string() }),
  severity: z.enum(SEVERITIES as [string, ...string[]]),
  entity: z.looseObject({ kind: z.string(), id: z.string() }),
  count: z.number(),
  first_seen: z.string(),
  last_seen: z.string(),
  event_ids: z.array(z.string()),
  mitre: z.looseObject({ tactics: z.array(z.string()), techniques: z.array(z.string()) }),
  status: z.string(),
});

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export function parseBlockMessage(data: Uint8Array): Parsed<BlockMessage> {
  return parseWith(blockMessageSchema, data);
}

export function parseActionResult(data: Uint8Array): Parsed<ActionResultMessage> {
  return parseWith(actionResultSchema, data);
}

export function parseAlert(data: Uint8Array): Parsed<Alert> {
  return parseWith(alertSchema, data) as Parsed<Alert>;
}

function parseWith<T>(schema: z.ZodType<T>, data: Uint8Array): Parsed<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: r.error.issues.map((i) => `${i.path.join(".") || "(message)"}: ${i.message}`).join("; ") };
}

export function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
