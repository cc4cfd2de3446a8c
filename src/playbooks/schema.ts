// The playbook format (docs/playbooks.md): YAML in snake_case, checked field by field so an error
// names the field. Action parameters are checked later against each action's own schema (the
// registry's), by load.ts.

import { z } from "zod";
import { parseSeverity, SEVERITIES, type EntityKind, type Severity } from "../events/alert.js";
import { DURATION_HINT, parsePlaybookDuration, parseRate, RATE_HINT, type Rate } from "./duration.js";

export const PLAYBOOK_MODES = ["monitor", "interactive", "automatic"] as const;
export type PlaybookMode = (typeof PLAYBOOK_MODES)[number];
export const ENTITY_KINDS: readonly EntityKind[] = ["vm", "host", "ip", "user", "process"];

/** Same rule about the same entity again within this time: the playbook does not act again. */
export const DEFAULT_COOLDOWN_MS = 10 * 60_000;

const duration = z.string().refine((s) => parsePlaybookDuration(s) !== undefined, DURATION_HINT);
const nonEmptyList = z.array(z.string().min(1)).min(1);

const matchSchema = z
  .strictObject({
    rules: nonEmptyList.optional(),
    tags: nonEmptyList.optional(),
    techniques: z.array(z.string().regex(/^[Tt]\d{4}(\.\d{3})?$/, "a MITRE technique looks like T1611 or T1003.007")).min(1).optional(),
    // Any name of a severity (med, info, crit, …: parseSeverity), stored as its full name.
    min_severity: z.preprocess((v) => (typeof v === "string" ? (parseSeverity(v) ?? v) : v), z.enum(SEVERITIES as [Severity, ...Severity[]])).optional(),
    min_anomaly_score: z.union([z.number().positive(), z.strictObject({ absolute: z.number() })]).optional(),
    feeds: z.union([nonEmptyList, z.strictObject({ any: z.literal(true) })]).optional(),
    entity: z.array(z.enum(ENTITY_KINDS as [EntityKind, ...EntityKind[]])).min(1).optional(),
    vms: nonEmptyList.optional(),
  })
  .refine((m) => Object.values(m).some((v) => v !== undefined), "match needs at least one criterion (min_severity: informational matches every alert)");

export const stepSchema = z.strictObject({
  action: z.string().min(1),
  with: z.record(z.string(), z.unknown()).optional(),
  ttl: duration.optional(),
  always_confirm: z.boolean().optional(),
});

export const playbookSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "letters, digits, '.', '_' and '-' only"),
  title: z.string().min(1),
  description: z.string().optional(),
  enabled: z.boolean().optional(),
  mode: z.enum(PLAYBOOK_MODES),
  match: matchSchema,
  actions: z.array(stepSchema).min(1),
  cooldown: duration.optional(),
  rate_limit: z.string().refine((s) => parseRate(s) !== undefined, RATE_HINT).optional(),
  ttl: duration.optional(),
  delay: duration.optional(),
  always_confirm: z.array(z.string().min(1)).optional(),
});

export type RawPlaybook = z.infer<typeof playbookSchema>;

export interface PlaybookMatch {
  /** Rule ids or globs (`intel:*`, `flow:*`). */
  rules?: string[];
  /** Tags or globs, case-insensitive. */
  tags?: string[];
  /** Upper case; a technique also matches its sub-techniques. */
  techniques?: string[];
  minSeverity?: Severity;
  /** ratio: score / the model's threshold; absolute: the score itself. */
  minAnomalyScore?: { ratio: number } | { absolute: number };
  /** Feed names, or "any" feed hit. */
  feeds?: string[] | "any";
  entity?: EntityKind[];
  /** VM name globs. */
  vms?: string[];
}

export interface PlaybookStep {
  action: string;
  /** The parameters after the action's schema (defaults filled in). */
  params: Record<string, unknown>;
  /** The undo deadline for a reversible action (the step's ttl, else the playbook's). */
  ttlMs?: number;
  alwaysConfirm: boolean;
  line: number;
}

export interface Playbook {
  id: string;
  title: string;
  description?: string;
  enabled: boolean;
  mode: PlaybookMode;
  match: PlaybookMatch;
  steps: PlaybookStep[];
  cooldownMs: number;
  rateLimit?: Rate;
  delayMs: number;
  file: string;
  line: number;
}

export function toMatch(m: RawPlaybook["match"]): PlaybookMatch {
  const out: PlaybookMatch = {};
  if (m.rules) out.rules = m.rules;
  if (m.tags) out.tags = m.tags;
  if (m.techniques) out.techniques = m.techniques.map((t) => t.toUpperCase());
  if (m.min_severity) out.minSeverity = m.min_severity;
  if (m.min_anomaly_score !== undefined) out.minAnomalyScore = typeof m.min_anomaly_score === "number" ? { ratio: m.min_anomaly_score } : { absolute: m.min_anomaly_score.absolute };
  if (m.feeds) out.feeds = Array.isArray(m.feeds) ? m.feeds : "any";
  if (m.entity) out.entity = m.entity;
  if (m.vms) out.vms = m.vms;
  return out;
}
