// What a playbook would do about one alert, decided without side effects: the target of each
// action, whether a safety check refuses it, and the status its row gets. The engine stores the
// plan; `hv playbooks test` prints it.

import type { Alert } from "../events/alert.js";
import type { Allowlist } from "../events/allowlist.js";
import { targetKey, type ActionRegistry, type ActionTarget } from "./action.js";
import { formatDuration } from "../events/duration.js";
import { allowlistRefusal, QUARANTINE_ACTIONS } from "./safety.js";
import type { Playbook, PlaybookMode, PlaybookStep } from "./schema.js";

export type PlannedStatus = "recorded" | "refused" | "pending" | "scheduled" | "run";

export interface PlannedAction {
  step: PlaybookStep;
  /** The mode in force: the playbook's, or monitor when response.mode is monitor. */
  mode: PlaybookMode;
  status: PlannedStatus;
  target?: ActionTarget;
  /** Why refused, pending or recorded; one line. */
  reason: string;
  notBefore?: number;
}

export interface PlanContext {
  registry: ActionRegistry;
  allowlist: Allowlist;
  /** response.mode: monitor turns every playbook into monitor. */
  responseMode: "monitor" | "playbooks";
  /** response.alwaysConfirm. */
  alwaysConfirm: ReadonlySet<string>;
  /** Quarantines started in the last hour, running ones included. */
  quarantinesLastHour: number;
  maxQuarantinesPerHour: number;
  /** Is this VM quarantined already (then quarantining it again starts nothing)? */
  isQuarantined(vm: string): boolean;
  now: number;
}

export function planPlaybook(pb: Playbook, alert: Alert, ctx: PlanContext): PlannedAction[] {
  const mode: PlaybookMode = ctx.responseMode === "monitor" ? "monitor" : pb.mode;
  let quarantines = ctx.quarantinesLastHour;
  return pb.steps.map((step): PlannedAction => {
    const def = ctx.registry.get(step.action);
    if (!def) return { step, mode, status: "refused", reason: `unknown action ${step.action}` };
    const t = def.targetOf(alert, step.params as never);
    if ("error" in t) return { step, mode, status: "refused", reason: `no target: ${t.error}` };
    const why = allowlistRefusal(ctx.allowlist, step.action, t);
    if (why) return { step, mode, status: "refused", target: t, reason: `allowlist: ${why}` };
    if (QUARANTINE_ACTIONS.includes(step.action) && t.kind === "vm" && !ctx.isQuarantined(t.name)) {
      if (quarantines >= ctx.maxQuarantinesPerHour) {
        return { step, mode, status: "refused", target: t, reason: `limit: ${quarantines} quarantines in the last hour (response.maxQuarantinesPerHour ${ctx.maxQuarantinesPerHour})` };
      }
      // Monitor starts nothing, so it does not use up the limit.
      if (mode !== "monitor") quarantines++;
    }
    const on = `${step.action} on ${targetKey(t)}`;
    if (mode === "monitor") return { step, mode, status: "recorded", target: t, reason: `would run ${on}${ctx.responseMode === "monitor" ? " (response.mode is monitor)" : ""}` };
    if (mode === "interactive") return { step, mode, status: "pending", target: t, reason: `${on} waits for approval (interactive playbook)` };
    if (step.alwaysConfirm || ctx.alwaysConfirm.has(step.action)) {
      return { step, mode, status: "pending", target: t, reason: `${on} waits for approval (always confirm ${step.action})` };
    }
    if (pb.delayMs > 0) return { step, mode, status: "scheduled", target: t, reason: `${on} runs in ${formatDuration(pb.delayMs)}`, notBefore: ctx.now + pb.delayMs };
    return { step, mode, status: "run", target: t, reason: `${on} runs now` };
  });
}
