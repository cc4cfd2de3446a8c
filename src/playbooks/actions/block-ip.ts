// block_ip: puts an address (or a CIDR) into hv's block set, as an enforcement row the firewall
// builds from — with the action's TTL, so it survives restarts and still ends on time.

import { z } from "zod";
import type { Alert } from "../../events/alert.js";
import { activeEnforcement, enforce, releaseEnforcement } from "../../store/enforcements.js";
import type { ActionDefinition } from "../action.js";
import { checkEntry, tooBroadOrSpecial } from "../../firewall/block-target.js";
import { refuse } from "../../events/errors.js";
import { expectKind, heldLonger, releaseReason, syncAfter } from "./common.js";

const FIELDS = ["destination.ip", "source.ip", "threat"] as const;
type Field = (typeof FIELDS)[number];

const params = z.strictObject({
  /** Block this address or CIDR instead of one taken from the alert. */
  address: z
    .string()
    .refine((a) => !("error" in checkEntry(a)), { error: "must be an address or CIDR" })
    .optional(),
  /** Which of the alert's addresses to block (default: see remoteAddress). */
  field: z.enum(FIELDS).optional(),
});

export type BlockIpParams = z.infer<typeof params>;

/**
 * The address to block when the playbook does not say: the threat-intel hit when the alert has an
 * address one; else the far end of the flow. Flow detectors make an alert about a VM only when the
 * VM opened the flows (src/detectors/flows/common.ts sourceEntity), so then the far end is
 * destination.ip; an alert about an address names the source it blames; anything else: source.ip.
 */
export function remoteAddress(alert: Alert): { address: string; from: string } | { error: string } {
  const t = alert.threat;
  if (t && (t.kind === "ip" || t.kind === "cidr")) return { address: t.matched, from: "threat.matched" };
  if (alert.entity.kind === "vm" && alert.destination?.ip) return { address: alert.destination.ip, from: "destination.ip" };
  if (alert.entity.kind === "ip") return { address: alert.entity.id, from: "entity" };
  if (alert.source?.ip) return { address: alert.source.ip, from: "source.ip" };
  return { error: "the alert has no address to block (no threat.matched address, source.ip or destination.ip)" };
}

function fieldAddress(alert: Alert, field: Field): { address: string; from: string } | { error: string } {
  if (field === "threat") {
    const t = alert.threat;
    if (!t || (t.kind !== "ip" && t.kind !== "cidr")) return { error: "field threat: the alert has no threat-intel hit on an address" };
    return { address: t.matched, from: "threat.matched" };
  }
  const value = field === "source.ip" ? alert.source?.ip : alert.destination?.ip;
  return value ? { address: value, from: field } : { error: `field ${field}: the alert has no ${field}` };
}

export const blockIp: ActionDefinition<BlockIpParams> = {
  name: "block_ip",
  risk: "drops traffic with an address: a false positive cuts a legitimate peer off",
  summary: "drop traffic to and from an address or CIDR (hv's block set, with the action's TTL)",
  params,
  targetOf(alert, p) {
    let picked: { address: string; from: string } | { error: string };
    if (p.address !== undefined) picked = { address: p.address, from: "params" };
    else if (!alert) return { error: "needs an alert with an address, or the address parameter" };
    else picked = p.field ? fieldAddress(alert, p.field) : remoteAddress(alert);
    if ("error" in picked) return picked;
    const e = checkEntry(picked.address);
    if ("error" in e) return { error: `${picked.from}: ${e.error}` };
    const broad = tooBroadOrSpecial(e);
    if (broad) return { error: `will not block: ${broad}` };
    return { kind: "ip", address: e.text };
  },
  async run({ env, target, actionId, by, expires, alert }) {
    const address = expectKind(target, "ip").address;
    const e = checkEntry(address);
    if ("error" in e) throw refuse(e.error);
    const broad = tooBroadOrSpecial(e);
    if (broad) throw refuse(`refused: ${broad}`);
    const protectedWhy = env.allowlist.address(e.text);
    if (protectedWhy) throw refuse(`refused: ${protectedWhy}`);
    const { enforcement, created } = enforce(env.db, {
      kind: "block",
      target: e.text,
      detail: { ...(alert?.id !== undefined ? { alertId: alert.id } : {}), ...(alert ? { rule: alert.rule.id } : {}) },
      actionId,
      createdBy: by,
      expires: expires ?? null,
    });
    await syncAfter(env, `the block of ${e.text}`);
    const until = enforcement.expires === null ? "until released" : `until ${new Date(enforcement.expires).toISOString()}`;
    const detail = { enforcement: enforcement.id, address: e.text, expires: enforcement.expires };
    if (!created) return { result: `${e.text} was already blocked, ${until}`, unchanged: true, detail };
    return { result: `blocked ${e.text}, ${until}`, detail };
  },
  reversible: {
    how: "undo the action (hv actions undo ID), or let its TTL run out",
    async undo(run) {
      const address = expectKind(run.target, "ip").address;
      const active = activeEnforcement(run.env.db, "block", address);
      if (!active) return { result: `${address} is not blocked`, unchanged: true };
      const held = heldLonger(run, active.expires);
      if (held) return { result: `left the block of ${address} in force: ${held}`, unchanged: true, detail: { enforcement: active.id } };
      releaseEnforcement(run.env.db, "block", address, run.by, releaseReason(run));
      await syncAfter(run.env, `the unblock of ${address}`);
      return { result: `unblocked ${address}`, detail: { enforcement: active.id } };
    },
  },
};
