// An Alert given to hv from outside (`hv playbooks test --alert FILE`): checked field by field, so
// a rule id that is a number or a severity that is an object is an error naming the field, not a
// crash deep in the playbook matcher. What `hv alerts show ID --json` prints always passes; fields
// it may leave out get the defaults a fresh alert has.

import { z } from "zod";
import { SEVERITIES, type Alert, type EntityKind, type Severity } from "./alert.js";

const text = z.string().max(64 * 1024);
const strings = z.array(text).max(10_000);
const port = z.int().min(0).max(65535);

const threatSchema = z.looseObject({
  feed: text,
  indicator: text,
  kind: z.enum(["ip", "cidr", "domain", "url", "hash"]),
  matched: text,
  field: text,
  first_seen: text.optional(),
  last_seen: text.optional(),
  description: text.optional(),
  meta: z.record(text, text).optional(),
});

const anomalySchema = z.looseObject({
  model: text,
  score: z.number(),
  threshold: z.number(),
  explanation: strings,
});

export const alertSchema = z.looseObject({
  id: z.int().positive().optional(),
  "@timestamp": text.optional(),
  first_seen: text.optional(),
  last_seen: text.optional(),
  count: z.int().min(1).default(1),
  rule: z.looseObject({
    id: text.min(1),
    title: text.default(""),
    source: text.default("sigma"),
    description: text.optional(),
    level: text.optional(),
    tags: strings.optional(),
    file: text.optional(),
  }),
  severity: z.enum(SEVERITIES as [Severity, ...Severity[]]).default("medium"),
  mitre: z.object({ tactics: strings.default([]), techniques: strings.default([]) }).default({ tactics: [], techniques: [] }),
  entity: z.object({ kind: z.enum(["vm", "host", "user", "process", "ip"] as [EntityKind, ...EntityKind[]]), id: text }),
  vm: z.object({ name: text.optional(), uuid: text.optional() }).optional(),
  host: z.object({ name: text.optional() }).optional(),
  user: z.object({ id: text.optional(), name: text.optional() }).optional(),
  process: z.object({ pid: z.int().min(0).optional(), executable: text.optional(), command_line: text.optional() }).optional(),
  source: z.object({ ip: text.optional(), port: port.optional() }).optional(),
  destination: z.object({ ip: text.optional(), port: port.optional() }).optional(),
  event_ids: strings.default([]),
  summary: text.optional(),
  threat: threatSchema.optional(),
  anomaly: anomalySchema.optional(),
  status: z.enum(["open", "acked"]).default("open"),
});

/** The alert, or the problems as `field: message` lines. */
export function parseAlert(input: unknown): { ok: true; alert: Alert } | { ok: false; problems: string[] } {
  const r = alertSchema.safeParse(input);
  if (r.success) {
    const now = new Date().toISOString();
    const a = r.data;
    return { ok: true, alert: { ...a, "@timestamp": a["@timestamp"] ?? now, first_seen: a.first_seen ?? now, last_seen: a.last_seen ?? now } as Alert };
  }
  return { ok: false, problems: r.error.issues.map((i) => `${i.path.map(String).join(".") || "(alert)"}: ${i.message}`) };
}
