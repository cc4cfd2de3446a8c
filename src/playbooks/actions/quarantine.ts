// quarantine_vm and release_vm: an enforcement row in the store, then a firewall sync. The store is
// the source of truth (the firewall's desired state is built from active enforcements), so the
// quarantine outlives hv's process and the agent and the CLI agree on it.

import { z } from "zod";
import { activeEnforcement, enforce, releaseEnforcement } from "../../store/enforcements.js";
import type { ActionDefinition, ActionOutcome, ActionRun } from "../action.js";
import { checkEntry, MIN_PREFIX } from "../../firewall/block-target.js";
import { checkedVm, expectKind, heldLonger, releaseReason, syncAfter, vmTargetOf } from "./common.js";

const keepEntry = z.string().transform((text, ctx) => {
  const e = checkEntry(text);
  if ("error" in e) {
    ctx.addIssue({ code: "custom", message: e.error });
    return z.NEVER;
  }
  if (e.prefix < MIN_PREFIX[e.family]) {
    ctx.addIssue({ code: "custom", message: `${e.text} would keep (nearly) everything reachable: a quarantine keeps at most a /${MIN_PREFIX[e.family]}` });
    return z.NEVER;
  }
  return e.text;
});

const quarantineParams = z.strictObject({
  /** Addresses/CIDRs the VM may still reach and be reached from (a management or forensics host). */
  keep: z.array(keepEntry).max(64).optional(),
});

export type QuarantineParams = z.infer<typeof quarantineParams>;

export const quarantineVm: ActionDefinition<QuarantineParams> = {
  name: "quarantine_vm",
  risk: "cuts the VM off the network: a false positive takes its service offline until released",
  summary: "drop all traffic of the VM's tap devices (optionally keeping some addresses reachable)",
  params: quarantineParams,
  targetOf: (alert) => vmTargetOf(alert),
  async run({ env, params: p, target, actionId, by, expires }) {
    // libvirt down must not stop a quarantine: the firewall needs only the taps the agent knows.
    const vm = await checkedVm(env, target, { requireLibvirt: false });
    const taps = await env.vmTaps(vm.name);
    const keep = p.keep ?? [];
    const { enforcement, created } = enforce(env.db, {
      kind: "quarantine",
      target: vm.name,
      detail: { ...(vm.uuid ? { uuid: vm.uuid } : {}), taps, keep },
      actionId,
      createdBy: by,
      expires: expires ?? null,
    });
    await syncAfter(env, `the quarantine of ${vm.name}`);
    const until = enforcement.expires === null ? "until released" : `until ${new Date(enforcement.expires).toISOString()}`;
    const detail = { enforcement: enforcement.id, taps: (enforcement.detail.taps as string[] | undefined) ?? taps, keep: (enforcement.detail.keep as string[] | undefined) ?? keep, expires: enforcement.expires };
    if (!created) return { result: `${vm.name} was already quarantined (since ${new Date(enforcement.created).toISOString()} by ${enforcement.createdBy ?? "?"}), ${until}`, unchanged: true, detail };
    const tapText = taps.length ? taps.join(", ") : "no tap devices now: rules follow when it gets one";
    return { result: `quarantined ${vm.name} (${tapText})${keep.length ? `; keeps ${keep.join(", ")}` : ""}, ${until}`, detail };
  },
  reversible: {
    how: "hv quarantine release VM",
    undo: (run) => release(run, "quarantine"),
  },
};

const noParams = z.strictObject({});

export const releaseVm: ActionDefinition<z.infer<typeof noParams>> = {
  name: "release_vm",
  risk: "ends a quarantine: the VM's traffic flows again",
  summary: "end the VM's quarantine (its traffic flows again)",
  params: noParams,
  targetOf: (alert) => vmTargetOf(alert),
  run: (run) => release(run, "release"),
};

/** Ends the quarantine. From a TTL it leaves alone a quarantine someone else wants longer. */
async function release(run: ActionRun<unknown>, from: "quarantine" | "release"): Promise<ActionOutcome> {
  const { env, target } = run;
  const name = expectKind(target, "vm").name;
  const active = activeEnforcement(env.db, "quarantine", name);
  if (!active) return { result: `${name} is not quarantined`, unchanged: true };
  const held = from === "quarantine" ? heldLonger(run, active.expires) : undefined;
  if (held) return { result: `left the quarantine of ${name} in force: ${held}`, unchanged: true, detail: { enforcement: active.id } };
  releaseEnforcement(env.db, "quarantine", name, run.by, from === "quarantine" ? releaseReason(run) : `release_vm (action ${run.actionId})`);
  await syncAfter(env, `the release of ${name}`);
  return { result: `released ${name} from quarantine`, detail: { enforcement: active.id } };
}
