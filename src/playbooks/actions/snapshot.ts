// snapshot_vm: a libvirt snapshot named after the action, so running the same action again finds
// it instead of making a second one. It is evidence: nothing here deletes it.

import { z } from "zod";
import { checkName } from "../../vm/names.js";
import { withSelfAction } from "../../vm/self-action.js";
import type { ActionDefinition } from "../action.js";
import { checkedVm, vmTargetOf } from "./common.js";

const snapshotName = z.string().refine(
  (n) => {
    try {
      checkName(n, "snapshot name");
      return true;
    } catch {
      return false;
    }
  },
  { error: "must be letters, digits and _ . + : @ - (starting with a letter, digit or _), at most 200 characters" },
);

const params = z.strictObject({
  /** Default: hv-<action id>. */
  name: snapshotName.optional(),
  /** External disk-only snapshot (overlay files; no memory state, no pause for the memory). */
  disk_only: z.boolean().default(false),
});

export type SnapshotParams = z.infer<typeof params>;

export const snapshotVm: ActionDefinition<SnapshotParams> = {
  name: "snapshot_vm",
  risk: "takes a snapshot: disk space; the guest may pause briefly",
  summary: "take a libvirt snapshot of the VM (named hv-<action id> unless given)",
  params,
  targetOf: (alert) => vmTargetOf(alert),
  async run({ env, params: p, target, actionId, by, alert }) {
    const vm = await checkedVm(env, target);
    const name = p.name ?? `hv-${actionId}`;
    const existing = (await env.vm.snapshotList(vm.name)).find((s) => s.name === name);
    if (existing) return { result: `${vm.name} already has snapshot ${name} (${existing.createdAt})`, unchanged: true, detail: { snapshot: name, location: existing.location, state: existing.state } };
    const description = `hv action ${actionId} by ${by}${alert ? `: ${alert.rule.title}` : ""}`.replace(/[\x00-\x1f\x7f]/g, " ").slice(0, 500);
    await withSelfAction(vm.name, "snapshot", () => env.vm.snapshotCreate(vm.name, name, { diskOnly: p.disk_only, description }), {
      stateDir: env.stateDir,
      ...(vm.uuid ? { vmUuid: vm.uuid } : {}),
      warn: (m) => env.log(m),
    });
    const made = (await env.vm.snapshotList(vm.name)).find((s) => s.name === name);
    return {
      result: `snapshot ${name} of ${vm.name}${p.disk_only ? " (disk only)" : ""}`,
      detail: { snapshot: name, diskOnly: p.disk_only, ...(made ? { location: made.location, state: made.state, createdAt: made.createdAt } : {}) },
    };
  },
};
