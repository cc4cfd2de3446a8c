// notify: hands the alert to the configured sinks (all, or the ones named), with the playbook's
// note in front of its summary. It acts on nothing, so its target is the host.

import { z } from "zod";
import type { Alert } from "../../events/alert.js";
import type { AlertSink } from "../../outputs/sink.js";
import type { ActionDefinition } from "../action.js";
import { ActionError } from "../../events/errors.js";

const params = z.strictObject({
  /** Sink names (the `name` of a sink in the config); absent: every sink. */
  sinks: z.array(z.string().min(1)).min(1).optional(),
  note: z.string().min(1).max(1000).optional(),
});

export type NotifyParams = z.infer<typeof params>;

/** How long notify waits for the sinks to deliver before it reports what it knows. */
const FLUSH_WAIT_MS = 10_000;

export const notify: ActionDefinition<NotifyParams> = {
  name: "notify",
  risk: "sends a message; changes nothing",
  summary: "send the alert (with a note) to the configured sinks",
  params,
  targetOf(alert) {
    return alert ? { kind: "host" } : { error: "needs an alert to send" };
  },
  async run({ env, params: p, alert }) {
    if (!alert) throw new ActionError("notify needs an alert to send");
    const sinks = pickSinks(env.sinks, p.sinks);
    const message: Alert = { ...alert, summary: p.note ? `${p.note} — ${alert.summary ?? alert.rule.title}` : (alert.summary ?? alert.rule.title) };
    const before = sinks.map((s) => s.stats());
    await Promise.all(sinks.map((s) => s.send(message)));
    await flushWithin(sinks, FLUSH_WAIT_MS);
    const after = sinks.map((s) => s.stats());
    const delivery = sinks.map((s, i) => ({
      sink: s.name,
      sent: after[i]!.sent - before[i]!.sent,
      failed: after[i]!.failed - before[i]!.failed + (after[i]!.dropped - before[i]!.dropped),
      ...(after[i]!.lastError !== before[i]!.lastError && after[i]!.lastError ? { error: after[i]!.lastError } : {}),
    }));
    const failed = delivery.filter((d) => d.failed > 0);
    if (failed.length === sinks.length) {
      throw new ActionError(`no sink took the alert: ${failed.map((d) => `${d.sink}${d.error ? ` (${d.error})` : ""}`).join(", ")}`, { detail: { delivery } });
    }
    const pending = delivery.filter((d) => d.sent === 0 && d.failed === 0).map((d) => d.sink);
    const sent = delivery.filter((d) => d.sent > 0).map((d) => d.sink);
    const parts = [sent.length ? `sent to ${sent.join(", ")}` : "", pending.length ? `queued for ${pending.join(", ")}` : "", failed.length ? `failed on ${failed.map((d) => d.sink).join(", ")}` : ""];
    return { result: parts.filter(Boolean).join("; "), detail: { delivery } };
  },
};

function pickSinks(all: AlertSink[], names: string[] | undefined): AlertSink[] {
  if (all.length === 0) throw new ActionError("no sinks are configured (config key `sinks`)");
  if (!names) return all;
  const unknown = names.filter((n) => !all.some((s) => s.name === n));
  if (unknown.length) throw new ActionError(`sinks: no sink named ${unknown.map((n) => JSON.stringify(n)).join(", ")} (configured: ${all.map((s) => s.name).join(", ")})`);
  return all.filter((s) => names.includes(s.name));
}

async function flushWithin(sinks: AlertSink[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    await Promise.race([Promise.all(sinks.map((s) => s.flush?.())), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
