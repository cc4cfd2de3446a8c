// pause_vm, resume_vm, shutdown_vm: through the VM backend, inside a self-action window so the
// agent does not alert on the lifecycle events hv caused itself.

import { z } from "zod";
import { stopDomain } from "../../vm/lifecycle.js";
import { withSelfAction } from "../../vm/self-action.js";
import type { ActionDefinition, ActionEnv, ActionOutcome, ActionTarget } from "../action.js";
import { ActionError } from "../../events/errors.js";
import { checkedVm, vmTargetOf } from "./common.js";

const noParams = z.strictObject({});
type NoParams = z.infer<typeof noParams>;

function selfAction<T>(env: ActionEnv, vm: { name: string; uuid?: string }, action: string, fn: () => Promise<T>): Promise<T> {
  return withSelfAction(vm.name, action, fn, { stateDir: env.stateDir, ...(vm.uuid ? { vmUuid: vm.uuid } : {}), warn: (m) => env.log(m) });
}

async function pause(env: ActionEnv, target: ActionTarget): Promise<ActionOutcome> {
  const vm = await checkedVm(env, target);
  const state = await env.vm.domainState(vm.name);
  if (state === "paused") return { result: `${vm.name} was already paused`, unchanged: true, detail: { state } };
  if (state !== "running" && state !== "idle" && state !== "blocked") throw new ActionError(`${vm.name} is ${state}: only a running guest can be paused`);
  await selfAction(env, vm, "pause", () => env.vm.suspend(vm.name));
  return { result: `paused ${vm.name}`, detail: { previousState: state } };
}

async function resume(env: ActionEnv, target: ActionTarget): Promise<ActionOutcome> {
  // Resuming only gives back: it works on an allowlisted VM too (one allowlisted after hv paused it).
  const vm = await checkedVm(env, target, { givesBack: true });
  const state = await env.vm.domainState(vm.name);
  if (state === "running" || state === "idle" || state === "blocked") return { result: `${vm.name} was already running`, unchanged: true, detail: { state } };
  if (state !== "paused") throw new ActionError(`${vm.name} is ${state}: only a paused guest can be resumed`);
  await selfAction(env, vm, "resume", () => env.vm.resume(vm.name));
  return { result: `resumed ${vm.name}` };
}

export const pauseVm: ActionDefinition<NoParams> = {
  name: "pause_vm",
  risk: "freezes the guest: its service stops answering until resumed",
  summary: "suspend the VM's vCPUs (memory and connections stay; nothing runs in it)",
  params: noParams,
  targetOf: (alert) => vmTargetOf(alert),
  run: ({ env, target }) => pause(env, target),
  reversible: {
    how: "hv vm resume VM",
    undo: ({ env, target }) => resume(env, target),
  },
};

export const resumeVm: ActionDefinition<NoParams> = {
  name: "resume_vm",
  risk: "resumes a paused guest",
  summary: "resume a paused VM",
  params: noParams,
  targetOf: (alert) => vmTargetOf(alert),
  run: ({ env, target }) => resume(env, target),
};

const shutdownParams = z.strictObject({
  /** How long the guest has to power off after the ACPI request. */
  timeout_seconds: z.int().min(1).max(3600).default(60),
  /** Pull the plug when the guest does not power off in time (or is paused). */
  force: z.boolean().default(false),
});

export type ShutdownParams = z.infer<typeof shutdownParams>;

export const shutdownVm: ActionDefinition<ShutdownParams> = {
  name: "shutdown_vm",
  risk: "powers the guest off: its service stops, and nothing starts it again",
  summary: "power the VM off (ACPI, then, with force, destroy after the timeout)",
  params: shutdownParams,
  targetOf: (alert) => vmTargetOf(alert),
  async run({ env, params: p, target }) {
    const vm = await checkedVm(env, target);
    if ((await env.vm.domainState(vm.name)) === "shut off") return { result: `${vm.name} was already shut off`, unchanged: true, detail: { how: "already-off" } };
    const how = await selfAction(env, vm, "shutdown", () => stopDomain(env.vm, vm.name, { timeoutSeconds: p.timeout_seconds, force: p.force }));
    if (how === "already-off") return { result: `${vm.name} was already shut off`, unchanged: true, detail: { how } };
    return { result: how === "shutdown" ? `shut ${vm.name} down` : `powered ${vm.name} off (destroy: it did not shut down within ${p.timeout_seconds} s)`, detail: { how } };
  },
};
