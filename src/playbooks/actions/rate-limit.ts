// rate_limit_vm: caps the bandwidth of a VM's tap devices, as an enforcement row the firewall
// builds its limit rules from (like a quarantine, it outlives hv's process).

import { z } from "zod";
import { activeEnforcement, enforce, releaseEnforcement, updateEnforcementDetail } from "../../store/enforcements.js";
import type { ActionDefinition } from "../action.js";
import { checkedVm, expectKind, heldLonger, releaseReason, syncAfter, vmTargetOf } from "./common.js";

// Bits in SI steps (as links are rated), bytes in binary steps (as nft's kbytes/mbytes are).
const UNITS: Record<string, number> = {
  bit: 1 / 8,
  kbit: 1000 / 8,
  mbit: 1_000_000 / 8,
  gbit: 1_000_000_000 / 8,
  byte: 1,
  kbyte: 1024,
  mbyte: 1024 ** 2,
  gbyte: 1024 ** 3,
};

/** 1 kbit/s … 100 Gbit/s: below is a quarantine in disguise, above is no limit. */
export const MIN_BYTES_PER_SECOND = 125;
export const MAX_BYTES_PER_SECOND = 12_500_000_000;

export const RATE_HINT = 'must be bytes per second or look like "512kbit", "1mbit", "10mbyte" (units: bit, kbit, mbit, gbit, byte, kbyte, mbyte, gbyte; per second)';

/** Bytes per second, or undefined when the text is not a rate. */
export function parseRateText(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?(?:bit|byte))s?(?:\/s)?$/i.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

const rate = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const bps = typeof v === "number" ? v : parseRateText(v);
  if (bps === undefined || !Number.isFinite(bps)) {
    ctx.addIssue({ code: "custom", message: RATE_HINT });
    return z.NEVER;
  }
  if (bps < MIN_BYTES_PER_SECOND || bps > MAX_BYTES_PER_SECOND) {
    ctx.addIssue({ code: "custom", message: `${bps} bytes/s is outside ${MIN_BYTES_PER_SECOND} (1 kbit/s) … ${MAX_BYTES_PER_SECOND} (100 Gbit/s)` });
    return z.NEVER;
  }
  return Math.round(bps);
});

const params = z.strictObject({ rate });

export type RateLimitParams = z.infer<typeof params>;

export const rateLimitVm: ActionDefinition<RateLimitParams> = {
  name: "rate_limit_vm",
  risk: "limits the VM's bandwidth: its service slows down",
  summary: "cap the bandwidth of the VM's tap devices (each direction)",
  params,
  targetOf: (alert) => vmTargetOf(alert),
  async run({ env, params: p, target, actionId, by, expires }) {
    const vm = await checkedVm(env, target, { requireLibvirt: false });
    const taps = await env.vmTaps(vm.name);
    const detail = { bytesPerSecond: p.rate, taps, ...(vm.uuid ? { uuid: vm.uuid } : {}) };
    const { enforcement, created } = enforce(env.db, { kind: "rate_limit", target: vm.name, detail, actionId, createdBy: by, expires: expires ?? null });
    const previous = enforcement.detail.bytesPerSecond;
    const changed = !created && previous !== p.rate;
    // A new rate replaces the old one: the playbook that runs last says what the limit is.
    if (changed) updateEnforcementDetail(env.db, enforcement.id, { ...enforcement.detail, bytesPerSecond: p.rate, taps });
    await syncAfter(env, `the rate limit of ${vm.name}`);
    const out = { enforcement: enforcement.id, bytesPerSecond: p.rate, taps, expires: enforcement.expires };
    if (changed) return { result: `rate limit of ${vm.name} changed from ${String(previous)} to ${p.rate} bytes/s`, detail: { ...out, previousBytesPerSecond: previous } };
    if (!created) return { result: `${vm.name} was already limited to ${p.rate} bytes/s`, unchanged: true, detail: out };
    return { result: `limited ${vm.name} (${taps.join(", ") || "no tap devices now"}) to ${p.rate} bytes/s`, detail: out };
  },
  reversible: {
    how: "undo the action (hv actions undo ID), or let its TTL run out",
    async undo(run) {
      const name = expectKind(run.target, "vm").name;
      const active = activeEnforcement(run.env.db, "rate_limit", name);
      if (!active) return { result: `${name} has no rate limit`, unchanged: true };
      const held = heldLonger(run, active.expires);
      if (held) return { result: `left the rate limit of ${name} in force: ${held}`, unchanged: true, detail: { enforcement: active.id } };
      releaseEnforcement(run.env.db, "rate_limit", name, run.by, releaseReason(run));
      await syncAfter(run.env, `the removal of ${name}'s rate limit`);
      return { result: `removed the rate limit of ${name}`, detail: { enforcement: active.id } };
    },
  },
};
