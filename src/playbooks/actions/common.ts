// What several actions share: how they find the VM an alert is about (they fail or refuse with
// ActionError, src/events/errors.ts), and the second-line allowlist check on VMs (the engine
// checks first; an action that could hurt checks again, so one bug cannot turn a playbook against
// something an administrator protected).

import type { Alert } from "../../events/alert.js";
import { ActionError, refuse } from "../../events/errors.js";
import { LibvirtError } from "../../events/libvirt-error.js";
import { checkName } from "../../vm/names.js";
import type { ActionEnv, ActionRun, ActionTarget } from "../action.js";

export type VmTarget = Extract<ActionTarget, { kind: "vm" }>;

/** The VM an alert is about: alert.vm.name, else an entity of kind vm. */
export function vmTargetOf(alert: Alert | undefined): VmTarget | { error: string } {
  if (!alert) return { error: "needs an alert that names a VM (or a VM given by hand)" };
  const name = alert.vm?.name ?? (alert.entity.kind === "vm" ? alert.entity.id : undefined);
  if (name === undefined || name === "") return { error: "the alert names no VM (neither vm.name nor an entity of kind vm)" };
  try {
    checkName(name, "VM name");
  } catch (err) {
    return { error: (err as Error).message };
  }
  const uuid = alert.vm?.uuid;
  return { kind: "vm", name, ...(uuid ? { uuid } : {}) };
}

export function expectKind<K extends ActionTarget["kind"]>(target: ActionTarget, kind: K): Extract<ActionTarget, { kind: K }> {
  if (target.kind !== kind) throw new ActionError(`this action acts on a ${kind}, not on ${target.kind}`);
  return target as Extract<ActionTarget, { kind: K }>;
}

/**
 * The VM, checked: it exists (libvirt says not-found → failure) and is not allowlisted by name or
 * UUID (→ refused; `givesBack` skips this for actions that only undo hv's own doing, like resume).
 * When libvirt cannot be asked (daemon down), the name and any UUID the target carries are all
 * there is to check; `requireLibvirt: false` lets the action go on then.
 */
export async function checkedVm(env: ActionEnv, target: ActionTarget, opts: { requireLibvirt?: boolean; givesBack?: boolean } = {}): Promise<{ name: string; uuid?: string }> {
  const t = expectKind(target, "vm");
  let uuid = t.uuid;
  try {
    const info = await env.vm.domainInfo(t.name);
    if (info.uuid) uuid = info.uuid;
  } catch (err) {
    if (err instanceof LibvirtError && err.code === "not-found") throw new ActionError(`no VM named ${t.name}`);
    if (opts.requireLibvirt !== false) throw err;
    env.log(`could not ask libvirt about ${t.name} (${(err as Error).message}); going on with what the alert says`);
  }
  const why = opts.givesBack ? undefined : env.allowlist.vm({ name: t.name, ...(uuid ? { uuid } : {}) });
  if (why) throw refuse(`refused: ${why}`);
  return { name: t.name, ...(uuid ? { uuid } : {}) };
}

/** Why an undo by the TTL must leave an enforcement alone: someone else wants it longer (or forever). */
export function heldLonger(run: ActionRun<unknown>, expires: number | null, now = Date.now()): string | undefined {
  if (!run.by.startsWith("ttl")) return undefined;
  if (expires === null) return "it is held until released by hand";
  if (expires > now) return `it is held until ${new Date(expires).toISOString()}`;
  return undefined;
}

export function releaseReason(run: ActionRun<unknown>): string {
  return run.by.startsWith("ttl") ? `TTL of action ${run.actionId} ran out` : `undo of action ${run.actionId}`;
}

/** Runs the firewall sync after a store change; a failure says the store already holds the change. */
export async function syncAfter(env: ActionEnv, what: string): Promise<void> {
  try {
    await env.syncFirewall();
  } catch (err) {
    throw new ActionError(`${what} is recorded in the store, but syncing the firewall failed: ${(err as Error).message} (the next reconcile applies it)`);
  }
}
