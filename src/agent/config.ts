// The agent's embedded defaults. Everything works without a config file; flags override.

import { accessSync, constants, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { DURATION_EXAMPLES, parseDuration } from "../events/duration.js";
import { DURATION_HINT, parsePlaybookDuration } from "../playbooks/duration.js";
import { InputError } from "../events/input.js";
import { fileURLToPath } from "node:url";
import { readYamlData, readYamlDocuments, readYamlFile, type YamlDocument } from "../events/yaml.js";
import { z } from "zod";
import { cidrSchema } from "../feeds/spec.js";
import { backupConfigSchema } from "../backup/settings.js";

export const DEFAULT_AUDIT_LOG = "/var/log/audit/audit.log";
/** Where auditd's builtin af_unix plugin listens (/etc/audit/plugins.d/af_unix.conf). */
export const DEFAULT_AUDISP_SOCKET = "/var/run/audispd_events";

export interface Retention {
  maxAgeMs: number;
  maxBytes: number;
}

export const DEFAULT_RETENTION: Retention = { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 2 * 1024 ** 3 };

export type AuditSourceChoice = { kind: "socket"; path: string } | { kind: "file"; path: string } | { kind: "none"; reasons: string[] };

/** Picks the live audit source: the audisp socket when it exists, else the log file when readable. */
export function detectAuditSource(socketPath = DEFAULT_AUDISP_SOCKET, logPath = DEFAULT_AUDIT_LOG): AuditSourceChoice {
  const reasons: string[] = [];
  try {
    if (statSync(socketPath).isSocket()) {
      accessSync(socketPath, constants.R_OK | constants.W_OK);
      return { kind: "socket", path: socketPath };
    }
    reasons.push(`${socketPath}: not a socket`);
  } catch (err) {
    reasons.push(`${socketPath}: ${describe(err)}`);
  }
  try {
    accessSync(logPath, constants.R_OK);
    return { kind: "file", path: logPath };
  } catch (err) {
    reasons.push(`${logPath}: ${describe(err)}${existsSync(logPath) ? " (run as root or a member of the log's group)" : ""}`);
  }
  return { kind: "none", reasons };
}

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "does not exist";
  if (code === "EACCES") return "permission denied";
  return code ?? String(err);
}

/** hv's own hypervisor rules, shipped with the package. */
export function shippedRulesDir(): string {
  return fileURLToPath(new URL(existsSync(new URL("../../rules/hv", import.meta.url)) ? "../../rules/hv" : "../../../rules/hv", import.meta.url));
}

/** The audit rules hv's own rules need (rules/audit/hv.rules): `hv rules coverage` takes its fix lines from here. */
export function shippedAuditRulesFile(): string {
  return join(shippedRulesDir(), "..", "audit", "hv.rules");
}

/** hv's default playbooks (all in monitor mode: out of the box hv records what it would do, and does nothing). */
export function shippedPlaybooksDir(): string {
  return fileURLToPath(new URL(existsSync(new URL("../../rules/playbooks", import.meta.url)) ? "../../rules/playbooks" : "../../../rules/playbooks", import.meta.url));
}

/** A duration in hv's one grammar (src/events/duration.ts). */
const duration = z.string().refine((s) => parseDuration(s) !== undefined, `must look like ${DURATION_EXAMPLES}`);

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1).max(255);

/** A duration longer than zero and at most 366 days (a console session's lifetimes). */
const positiveDuration = z.string().refine((s) => (parsePlaybookDuration(s) ?? 0) > 0, `${DURATION_HINT}, longer than 0`);

/** The `api.console:` section (docs/console.md). */
const consoleConfigSchema = z
  .object({
    /** Serve the web console at / (default true wherever the API is served). */
    enabled: z.boolean().optional(),
    /** A console session unused this long ends (default 30m). */
    sessionIdle: positiveDuration.optional(),
    /** A console session ends this long after login (default 12h). */
    sessionMax: positiveDuration.optional(),
    /** Mark the session cookie Secure: set it when people reach hv through a TLS proxy (default false). */
    secureCookie: z.boolean().optional(),
  })
  .strict();

/** The `api:` section (docs/api.md). */
const apiConfigSchema = z
  .object({
    /** Serve the REST API from the agent (default false: `hv api serve` runs it on its own). */
    enabled: z.boolean().optional(),
    /** Default 127.0.0.1; any other address needs an API token to exist first. */
    host: host.optional(),
    /** Default 8787. */
    port: port.optional(),
    /** Requests per window per token (per address without a valid token). */
    rateLimit: z.object({ max: z.number().int().min(1).optional(), windowSeconds: z.number().int().min(1).optional() }).strict().optional(),
    /** The web console (docs/console.md). */
    console: consoleConfigSchema.optional(),
  })
  .strict();

/** The `metrics:` section (docs/api.md). */
const metricsConfigSchema = z
  .object({
    /** Serve /metrics (default true whenever the API or a metrics port is enabled). */
    enabled: z.boolean().optional(),
    /** A listener of its own for /metrics (default: the API's). */
    host: host.optional(),
    port: port.optional(),
    /** Require a viewer token for /metrics (default: only when not on loopback). */
    auth: z.boolean().optional(),
  })
  .strict();

const allowlistSchema = z
  .object({
    vms: z.array(z.string()).optional(),
    networks: z.array(z.string()).optional(),
    users: z.array(z.string()).optional(),
    processes: z.array(z.string()).optional(),
    managementInterfaces: z.array(z.string()).optional(),
    hostAddresses: z.boolean().optional(),
  })
  .strict();

const responseSchema = z
  .object({
    /** monitor: every playbook only records what it would do, whatever its own mode (a kill switch). */
    mode: z.enum(["monitor", "playbooks"]).optional(),
    /** Never acted against, whatever a playbook says (docs/playbooks.md). */
    allowlist: allowlistSchema.optional(),
    /** Quarantines started per hour across all playbooks (default 3); more are refused and recorded. */
    maxQuarantinesPerHour: z.number().int().min(0).optional(),
    /** Actions that always wait for a person's approval, in every playbook. */
    alwaysConfirm: z.array(z.string()).optional(),
    /** Commands the `run` action may start (absolute paths). */
    runAllowlist: z.array(z.string()).optional(),
  })
  .strict();

const agentConfigSchema = z
  .object({
    /** Sigma rule files and directories (default: hv's shipped rules). */
    rules: z.array(z.string()).optional(),
    /** Structured rule exceptions: { rule, match, comment }. */
    exceptions: z.array(z.unknown()).optional(),
    /** Alert sinks (see src/outputs/README.md). */
    sinks: z.array(z.unknown()).optional(),
    /** Quiet by default (docs/noise.md): third-party Sigma hits below this level are signals, not alerts. */
    routing: z.object({ signalsBelow: z.enum(["informational", "low", "medium", "high", "critical", "none"]).optional() }).strict().optional(),
    /** Learning (docs/noise.md): a period from the first learned detection, then proposals (applied with apply: true). */
    learning: z
      .object({
        period: duration.optional(),
        apply: z.boolean().optional(),
        expires: duration.optional(),
        minCount: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Same rule about the same entity within this window is one alert (e.g. 10m). */
    dedupWindow: duration.optional(),
    stateDir: z.string().optional(),
    /** Flow sources: conntrack (default on when hv is root and conntrack is installed), NetFlow/IPFIX (off unless set). */
    flows: z
      .object({
        conntrack: z.boolean().optional(),
        netflow: z.object({ port: z.number().int().min(0).max(65535).optional(), address: z.string().optional() }).strict().optional(),
      })
      .strict()
      .optional(),
    /** Thresholds of the flow detectors (docs/flow-detectors.md); validated by src/detectors/flows/config.ts. */
    flowDetectors: z.unknown().optional(),
    /** Networks no feed may list (on top of loopback, link-local and the host's own addresses). */
    feeds: z.object({ allowlist: z.array(cidrSchema).optional(), schedule: z.boolean().optional() }).strict().optional(),
    /** Reconcile hv's nft tables with the block feeds at start and after each feed sync (default on as root with nft installed). */
    firewall: z
      .object({
        enabled: z.boolean().optional(),
        /** Names of hv's two tables (default hv/hv): a second instance or a test keeps its own. */
        tables: z.object({ inet: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/), netdev: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/) }).strict().optional(),
        /** Run nft inside this network namespace (labs and tests); default: the host's. */
        netns: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
      })
      .strict()
      .optional(),
    /** Playbook files and directories (default: hv's shipped playbooks, all in monitor mode). */
    playbooks: z.array(z.string()).optional(),
    /** Safety of automated response: allowlists, limits, a global monitor switch. */
    response: responseSchema.optional(),
    /** The REST API (docs/api.md); off unless enabled, loopback by default. */
    api: apiConfigSchema.optional(),
    /** Prometheus /metrics (docs/api.md): served with the API, or on a port of its own. */
    metrics: metricsConfigSchema.optional(),
    /** The fleet over NATS JetStream (docs/fleet.md): alerts and action results out, fleet-wide blocks in. */
    fleet: z
      .object({
        enabled: z.boolean().optional(),
        servers: z.array(z.string().regex(/^(nats|tls):\/\/\S+$/, "must be a nats:// or tls:// URL")).min(1),
        host: z.string().min(1).max(255).optional(),
        credentials: z.string().optional(),
        tokenFile: z.string().optional(),
        streamReplicas: z.number().int().min(1).max(5).optional(),
        /** Apply fleet-wide blocks here (default true). */
        blocks: z.boolean().optional(),
      })
      .strict()
      .refine((f) => !(f.credentials && f.tokenFile), "set credentials or tokenFile, not both")
      .optional(),
    /** Anomaly models to score with (docs/anomaly.md); none by default: a host needs its own baseline. */
    anomaly: z.object({ syscalls: z.string().optional() }).strict().optional(),
    /** VM backups in a restic repository (docs/backup.md): `hv backup`, the backup_vm action, the schedule. */
    backup: backupConfigSchema.optional(),
  })
  .strict();

export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** Reads the YAML config; every problem is reported with the file and the field. */
export function loadAgentConfig(path: string): AgentConfig {
  const read = readYamlFile(path);
  if ("problem" in read) throw new InputError(`${path}: ${read.problem}`);
  const yaml = readYamlData(read.text);
  if ("problem" in yaml) throw new InputError(`${path}:${yaml.problem.line}: ${yaml.problem.reason}`);
  const parsed = agentConfigSchema.safeParse(yaml.data ?? {});
  if (!parsed.success) {
    throw new InputError(`${path}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
  }
  return parsed.data;
}

/**
 * Where a path of the config file is (`file:line`), for problems found after loading: an
 * exception that names no rule is only known once the rules are loaded.
 */
export function configLocator(path: string): (at: PropertyKey[]) => string {
  const read = readYamlFile(path);
  const doc = "text" in read ? readYamlDocuments(read.text).find((d): d is YamlDocument => "doc" in d) : undefined;
  return (at) => `${path}:${doc ? doc.lineAt(at) : 0}`;
}
