// `hv setup`: the answers (mode, allowlists, feeds, sinks, API, audit rules, services), read back
// from what is configured now, turned into /etc/hv/hv.yaml (edited in place: comments and fields
// setup does not manage are kept) or, on NixOS, into hypervisor.monitor options. The wizard and
// the non-interactive form (src/cli/setup.ts) both end here.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isMap, isSeq, parseDocument, type Document } from "yaml";
import { z } from "zod";
import { parseEntry } from "../events/address.js";
import { FEED_PRESETS, findPreset } from "../feeds/presets.js";
import { shippedPlaybooksDir, type AgentConfig } from "./config.js";
import { AUDIT_RULES_INSTALLED_NAME } from "./install.js";

/** monitor: every playbook only records; interactive/automatic: hv's playbooks, copied with that mode. */
export const SETUP_MODES = ["monitor", "interactive", "automatic"] as const;
export type SetupMode = (typeof SETUP_MODES)[number];

export const answersSchema = z
  .object({
    /** Install rules/audit/hv.rules into /etc/audit/rules.d (next to the host's own). */
    auditRules: z.boolean(),
    mode: z.enum(SETUP_MODES),
    allowlist: z.object({ networks: z.array(z.string()), users: z.array(z.string()), vms: z.array(z.string()) }).strict(),
    /** Feed presets (hv feeds presets) registered in the store. */
    feeds: z.array(z.string()),
    sinks: z
      .object({
        jsonl: z.string().optional(),
        /** host:port (UDP). */
        syslog: z.string().optional(),
        webhook: z.string().optional(),
        alertmanager: z.string().optional(),
      })
      .strict(),
    api: z.object({ enabled: z.boolean(), host: z.string(), port: z.number().int().min(1).max(65535), createToken: z.boolean() }).strict(),
    /** Install the systemd units (not on NixOS). */
    service: z.boolean(),
  })
  .strict();

export type SetupAnswers = z.infer<typeof answersSchema>;

/** A partial answers file (hv setup --answers FILE): whatever it leaves out keeps its current value. */
export const partialAnswersSchema = answersSchema
  .extend({
    allowlist: answersSchema.shape.allowlist.partial(),
    sinks: answersSchema.shape.sinks,
    api: answersSchema.shape.api.partial(),
  })
  .partial()
  .strict();
export type PartialAnswers = z.infer<typeof partialAnswersSchema>;

export const DEFAULT_JSONL = "/var/log/hv/alerts.jsonl";

export interface PlaybookSummary {
  id: string;
  title: string;
  /** undo: how it is undone; absent when it cannot be (or changes nothing). */
  actions: Array<{ action: string; does: string; risk: string; undo?: string }>;
}

/** hv's shipped playbooks and what each would do, for the mode question. */
export async function shippedPlaybookSummaries(): Promise<PlaybookSummary[]> {
  const [{ loadPlaybooks }, { createRegistry }] = await Promise.all([import("../playbooks/load.js"), import("../playbooks/registry.js")]);
  const registry = createRegistry();
  return loadPlaybooks([shippedPlaybooksDir()], registry).playbooks.map((p) => ({
    id: p.id,
    title: p.title,
    actions: p.steps.map((s) => {
      const def = registry.get(s.action);
      return { action: s.action, does: def?.summary ?? "", risk: def?.risk ?? "", ...(def?.reversible ? { undo: def.reversible.how } : {}) };
    }),
  }));
}

export interface SetupPaths {
  /** The config file to read and write. */
  config: string;
  /** Root for /etc/audit/rules.d and the systemd units (/ on a host). */
  root: string;
  stateDir: string;
}

/** Where setup writes playbook copies for interactive/automatic: next to the config. */
export function playbookCopiesDir(configPath: string): string {
  return join(dirname(configPath), "playbooks");
}

/** The answers as they stand now: from the config file, the store's feeds, the installed files. */
export async function currentAnswers(paths: SetupPaths, config: AgentConfig, storedFeeds: string[]): Promise<SetupAnswers> {
  const sink = (type: string): Record<string, unknown> | undefined => (config.sinks ?? []).find((s) => (s as { type?: string }).type === type) as Record<string, unknown> | undefined;
  const syslog = sink("syslog");
  const usesCopies = (config.playbooks ?? []).includes(playbookCopiesDir(paths.config));
  const copyMode = usesCopies ? modeOfCopies(playbookCopiesDir(paths.config)) : undefined;
  return {
    auditRules: existsSync(join(paths.root, "etc/audit/rules.d", AUDIT_RULES_INSTALLED_NAME)) || !existsSync(paths.config),
    mode: config.response?.mode === "playbooks" && copyMode ? copyMode : "monitor",
    allowlist: { networks: config.response?.allowlist?.networks ?? [], users: config.response?.allowlist?.users ?? [], vms: config.response?.allowlist?.vms ?? [] },
    feeds: storedFeeds.filter((f) => findPreset(f) !== undefined),
    sinks: {
      ...(sink("jsonl")?.path ? { jsonl: String(sink("jsonl")!.path) } : !existsSync(paths.config) ? { jsonl: DEFAULT_JSONL } : {}),
      ...(syslog ? { syslog: `${String(syslog.host ?? "127.0.0.1")}:${String(syslog.port ?? 514)}` } : {}),
      ...(sink("webhook")?.url ? { webhook: String(sink("webhook")!.url) } : {}),
      ...(sink("alertmanager")?.url ? { alertmanager: String(sink("alertmanager")!.url) } : {}),
    },
    api: { enabled: config.api?.enabled === true, host: config.api?.host ?? "127.0.0.1", port: config.api?.port ?? 8787, createToken: false },
    service: existsSync(join(paths.root, "etc/systemd/system/hv-monitor.service")),
  };
}

function modeOfCopies(dir: string): SetupMode | undefined {
  if (!existsSync(dir)) return undefined;
  for (const f of readdirSync(dir)) {
    const m = /^mode:\s*(interactive|automatic)\s*$/m.exec(readFileSync(join(dir, f), "utf8"));
    if (m) return m[1] as SetupMode;
  }
  return undefined;
}

/** Every problem of a set of answers, each naming its field; empty when they can be applied. */
export function answerProblems(a: SetupAnswers): string[] {
  const problems: string[] = [];
  for (const n of a.allowlist.networks) if (!parseEntry(n)) problems.push(`allowlist.networks: ${JSON.stringify(n)} is not an address or CIDR (10.0.0.0/24, 2001:db8::/48)`);
  for (const u of a.allowlist.users) if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(u)) problems.push(`allowlist.users: ${JSON.stringify(u)} is not a user name`);
  for (const v of a.allowlist.vms) if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]*$/.test(v)) problems.push(`allowlist.vms: ${JSON.stringify(v)} is not a VM name`);
  for (const f of a.feeds) if (!findPreset(f)) problems.push(`feeds: no preset ${JSON.stringify(f)}; one of ${FEED_PRESETS.map((p) => p.name).join(", ")}`);
  if (a.sinks.syslog !== undefined && !/^[^\s:]+:\d{1,5}$/.test(a.sinks.syslog)) problems.push(`sinks.syslog: ${JSON.stringify(a.sinks.syslog)} must be host:port`);
  for (const k of ["webhook", "alertmanager"] as const) if (a.sinks[k] !== undefined && !/^https?:\/\/\S+$/.test(a.sinks[k]!)) problems.push(`sinks.${k}: ${JSON.stringify(a.sinks[k])} must be an http(s) URL`);
  if (a.sinks.jsonl !== undefined && !a.sinks.jsonl.startsWith("/")) problems.push(`sinks.jsonl: ${JSON.stringify(a.sinks.jsonl)} must be an absolute path`);
  const loopback = ["127.0.0.1", "::1", "localhost"].includes(a.api.host);
  if (a.api.enabled && !loopback && !a.api.createToken) problems.push(`api: listening on ${a.api.host} needs a token: answer yes to creating one (--api-token)`);
  return problems;
}

/** The config file's new text: the managed fields set from the answers, everything else as it was. */
export function configText(existing: string | undefined, a: SetupAnswers, paths: SetupPaths): string {
  const doc: Document = parseDocument(existing ?? "");
  if (existing === undefined || doc.contents === null) doc.contents = doc.createNode({}) as typeof doc.contents;
  if (existing === undefined) doc.commentBefore = " hv's configuration, written by `hv setup` (run it again to see and change the answers).\n Every field: README.md, \"Configuration\" under hv monitor; hv doctor checks it.";
  const remove = (path: string[]): void => {
    // deleteIn throws when a parent on the way is missing; then there is nothing to remove.
    if (doc.hasIn(path.slice(0, -1)) || path.length === 1) doc.deleteIn(path);
  };
  const set = (path: string[], value: unknown): void => {
    if (value === undefined || (Array.isArray(value) && value.length === 0)) remove(path);
    else doc.setIn(path, doc.createNode(value));
  };
  set(["response", "mode"], a.mode === "monitor" ? "monitor" : "playbooks");
  for (const k of ["networks", "users", "vms"] as const) set(["response", "allowlist", k], a.allowlist[k]);
  pruneEmpty(doc, ["response", "allowlist"]);
  // Playbooks: hv's copies (in the chosen mode) in place of hv's own, the operator's others kept.
  const copies = playbookCopiesDir(paths.config);
  const others = ((doc.getIn(["playbooks"]) as { toJSON?: () => unknown } | undefined)?.toJSON?.() as string[] | undefined)?.filter((p) => p !== copies) ?? [];
  set(["playbooks"], a.mode === "monitor" ? (others.length > 0 ? others : undefined) : [copies, ...others]);
  // Sinks: the four kinds setup asks about are replaced; any other (nats, a second webhook, …) stays.
  const managed = new Set(["jsonl", "syslog", "webhook", "alertmanager"]);
  const kept = (((doc.getIn(["sinks"]) as { toJSON?: () => unknown } | undefined)?.toJSON?.() as Array<{ type?: string }> | undefined) ?? []).filter((s) => !managed.has(s.type ?? ""));
  const sinks: unknown[] = [];
  if (a.sinks.jsonl) sinks.push({ type: "jsonl", path: a.sinks.jsonl });
  if (a.sinks.syslog) {
    const [host, port] = a.sinks.syslog.split(":");
    sinks.push({ type: "syslog", transport: "udp", host, port: Number(port) });
  }
  if (a.sinks.webhook) sinks.push({ type: "webhook", url: a.sinks.webhook, format: /hooks\.slack\.com/.test(a.sinks.webhook) ? "slack" : "json" });
  if (a.sinks.alertmanager) sinks.push({ type: "alertmanager", url: a.sinks.alertmanager });
  set(["sinks"], [...sinks, ...kept]);
  if (a.api.enabled) {
    set(["api", "enabled"], true);
    set(["api", "host"], a.api.host === "127.0.0.1" ? undefined : a.api.host);
    set(["api", "port"], a.api.port === 8787 ? undefined : a.api.port);
  } else remove(["api", "enabled"]);
  pruneEmpty(doc, ["api"]);
  pruneEmpty(doc, ["response"]);
  return doc.toString();
}

function pruneEmpty(doc: Document, path: string[]): void {
  const node = doc.hasIn(path) ? doc.getIn(path) : undefined;
  if ((isMap(node) || isSeq(node)) && node.items.length === 0) doc.deleteIn(path);
}

/** hv's playbooks with their mode set, for interactive/automatic (written next to the config). */
export function playbookCopies(mode: Exclude<SetupMode, "monitor">): Array<{ file: string; text: string }> {
  const dir = shippedPlaybooksDir();
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => ({
      file: f,
      text: `# hv setup: a copy of hv's ${f} with mode: ${mode} (hv setup writes it again when the mode changes).\n${readFileSync(join(dir, f), "utf8").replace(/^mode:\s*\w+\s*$/m, `mode: ${mode}`)}`,
    }));
}

/** The NixOS module's options for the answers (hypervisor.monitor; docs/nixos.md). */
export function nixosOptions(a: SetupAnswers): string {
  const str = (s: string): string => JSON.stringify(s).replace(/\$\{/g, "\\${");
  const list = (xs: string[]): string => `[ ${xs.map(str).join(" ")} ]`;
  const lines = ["hypervisor.monitor = {", "  enable = true;"];
  lines.push(`  mode = ${str(a.mode === "monitor" ? "monitor" : "playbooks")};`);
  if (a.mode !== "monitor") lines.push(`  # hv's playbooks with mode: ${a.mode}: copy rules/playbooks/*.yml into ./hv-playbooks, set the mode, then:`, "  playbooks = [ ./hv-playbooks ];");
  for (const k of ["networks", "users", "vms"] as const) if (a.allowlist[k].length > 0) lines.push(`  allowlists.${k} = ${list(a.allowlist[k])};`);
  if (a.feeds.length > 0) {
    lines.push("  feeds = [");
    for (const name of a.feeds) {
      const p = findPreset(name)!;
      const fields = [`name = ${str(name)};`, `url = ${str(p.spec.url)};`, ...(p.spec.format ? [`format = ${str(p.spec.format)};`] : []), ...(p.spec.schedule ? [`schedule = ${str(p.spec.schedule)};`] : []), ...(p.spec.severity ? [`severity = ${str(p.spec.severity)};`] : [])];
      lines.push(`    { ${fields.join(" ")} }`);
    }
    lines.push("  ];");
  }
  const sinks: string[] = [];
  if (a.sinks.jsonl) sinks.push(`{ type = "jsonl"; path = ${str(a.sinks.jsonl)}; }`);
  if (a.sinks.syslog) {
    const [host, port] = a.sinks.syslog.split(":");
    sinks.push(`{ type = "syslog"; transport = "udp"; host = ${str(host!)}; port = ${Number(port)}; }`);
  }
  if (a.sinks.webhook) sinks.push(`{ type = "webhook"; url = ${str(a.sinks.webhook)}; }`);
  if (a.sinks.alertmanager) sinks.push(`{ type = "alertmanager"; url = ${str(a.sinks.alertmanager)}; }`);
  if (sinks.length > 0) lines.push("  sinks = [", ...sinks.map((s) => `    ${s}`), "  ];");
  if (a.api.enabled) lines.push(`  api = { enable = true; address = ${str(a.api.host)}; port = ${a.api.port}; };`);
  lines.push(`  auditRules.enable = ${a.auditRules};`, "};");
  return lines.join("\n") + "\n";
}
