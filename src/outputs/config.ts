// The sinks section of hv's config: a plain array of `{ type, … }`, checked with zod so that a
// typo is reported by its place (`sinks[1].url: Invalid URL`) instead of failing at the first alert.

import { InputError, readTextCapped } from "../events/input.js";
import { z } from "zod";
import { AlertmanagerSink } from "./alertmanager.js";
import type { DeliveryOptions } from "./delivery.js";
import { JsonlSink } from "./jsonl.js";
import { NatsSink } from "./nats.js";
import { DEFAULT_SD_ID, FACILITY_NAMES, MIN_MESSAGE_BYTES } from "./rfc5424.js";
import type { AlertSink } from "./sink.js";
import { SyslogSink } from "./syslog.js";
import { WebhookSink } from "./webhook.js";

const ms = z.int().min(1).max(3_600_000);
/** A token file holds a token, not megabytes. */
const SECRET_FILE_BYTES = 64 * 1024;

/** Buffering and retry settings every sink takes. */
const delivery = {
  name: z.string().min(1).optional(),
  /** Alerts waiting for delivery before new ones are dropped. */
  bufferSize: z.int().min(1).max(1_000_000).optional(),
  retries: z.int().min(0).max(100).optional(),
  backoffMs: ms.optional(),
  maxBackoffMs: ms.optional(),
  closeTimeoutMs: ms.optional(),
  /** Bounds of the sink's backlog on disk (STATE/outbox) while its peer is away: alerts and bytes. */
  spoolItems: z.int().min(1).max(10_000_000).optional(),
  spoolBytes: z.int().min(1024).max(16 * 1024 * 1024 * 1024).optional(),
};

/** For the HTTP sinks. A token file keeps the secret out of the config (on NixOS, out of the world-readable store). */
const http = {
  url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }),
  headers: z.record(z.string(), z.string()).optional(),
  bearerToken: z.string().min(1).optional(),
  bearerTokenFile: z.string().min(1).optional(),
  timeoutMs: ms.optional(),
};

const oneToken = (c: { bearerToken?: string | undefined; bearerTokenFile?: string | undefined }): boolean =>
  c.bearerToken === undefined || c.bearerTokenFile === undefined;
const oneTokenError = { error: "set bearerToken or bearerTokenFile, not both", path: ["bearerTokenFile"] };

const jsonlSchema = z.strictObject({
  type: z.literal("jsonl"),
  /** File to append to; absent or "-" means stdout. */
  path: z.string().min(1).optional(),
  ...delivery,
});

const syslogSchema = z
  .strictObject({
    type: z.literal("syslog"),
    transport: z.enum(["udp", "tcp", "unix"]).default("udp"),
    host: z.string().min(1).default("127.0.0.1"),
    port: z.int().min(1).max(65535).default(514),
    /** Unix stream socket, for transport "unix". */
    path: z.string().min(1).optional(),
    framing: z.enum(["octet-counting", "lf"]).default("octet-counting"),
    facility: z.enum(FACILITY_NAMES).default("local0"),
    hostname: z.string().min(1).optional(),
    sdId: z
      .string()
      .max(32)
      .regex(/^[^\s="\]@]+@[0-9]+(\.[0-9]+)*$/, "must be name@<private enterprise number>, printable ASCII without space, = \" ]")
      .default(DEFAULT_SD_ID),
    // 65507 is the largest UDP payload over IPv4.
    maxMessageBytes: z.int().min(MIN_MESSAGE_BYTES).max(65507).optional(),
    connectTimeoutMs: ms.optional(),
    ...delivery,
  })
  .refine((c) => c.transport !== "unix" || c.path !== undefined, { error: 'is required when transport is "unix"', path: ["path"] })
  .refine((c) => !/[^\x21-\x7e]/.test(c.sdId), { error: "must be printable ASCII", path: ["sdId"] });

const webhookSchema = z
  .strictObject({
    type: z.literal("webhook"),
    format: z.enum(["json", "slack"]).default("json"),
    ...http,
    ...delivery,
  })
  .refine(oneToken, oneTokenError);

const alertmanagerSchema = z
  .strictObject({
    type: z.literal("alertmanager"),
    resendIntervalMs: z.int().min(1000).max(3_600_000).optional(),
    maxActive: z.int().min(1).optional(),
    generatorUrl: z.url().optional(),
    ...http,
    ...delivery,
  })
  .refine(oneToken, oneTokenError);

/** The fleet (docs/fleet.md): alerts to NATS JetStream, subject hv.<host>.alerts in stream HV_FLEET. */
const natsSchema = z
  .strictObject({
    type: z.literal("nats"),
    servers: z.array(z.string().regex(/^(nats|tls):\/\/\S+$/, "must be a nats:// or tls:// URL")).min(1),
    /** This host's name in the fleet (default: the system host name). */
    host: z.string().min(1).max(255).optional(),
    /** A NATS credentials file (nsc), or a file holding a token. */
    credentials: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
    /** Replicas of HV_FLEET when this sink creates it: 3 in a three-node cluster. */
    streamReplicas: z.int().min(1).max(5).optional(),
    createStream: z.boolean().optional(),
    publishTimeoutMs: ms.optional(),
    ...delivery,
  })
  .refine((c) => c.credentials === undefined || c.tokenFile === undefined, { error: "set credentials or tokenFile, not both", path: ["tokenFile"] });

export const sinkSchema = z.discriminatedUnion("type", [jsonlSchema, syslogSchema, webhookSchema, alertmanagerSchema, natsSchema]);

export const sinksSchema = z.array(sinkSchema).superRefine((sinks, ctx) => {
  const seen = new Set<string>();
  sinks.forEach((s, i) => {
    if (s.name === undefined) return;
    if (seen.has(s.name)) ctx.addIssue({ code: "custom", message: `duplicate sink name "${s.name}"`, path: [i, "name"] });
    seen.add(s.name);
  });
});

export type SinkConfig = z.infer<typeof sinkSchema>;

export class SinkConfigError extends InputError {
  override readonly name = "SinkConfigError";
}

/** Checks a sinks config; throws SinkConfigError listing every bad field as `sinks[i].field: problem`. */
export function parseSinksConfig(input: unknown): SinkConfig[] {
  const result = sinksSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `${fieldPath(issue.path)}: ${issue.message}`);
  throw new SinkConfigError(`invalid sinks config:\n  ${lines.join("\n  ")}`);
}

export interface CreateSinksOptions {
  /** Where sinks keep their backlog while their peer is away (the agent's STATE/outbox); none: no backlog on disk. */
  spoolDir?: string;
}

/** Builds the sinks a config describes. Throws only for a bad config (or an unreadable token file). */
export function createSinks(input: unknown, opts: CreateSinksOptions = {}): AlertSink[] {
  return parseSinksConfig(input).map((config, i) => createSink(config, i, opts));
}

/** Starts every sink (src/outputs/sink.ts start()); the first that cannot start throws its SinkStartError. */
export async function startSinks(sinks: readonly AlertSink[]): Promise<void> {
  for (const s of sinks) await s.start?.();
}

function createSink(c: SinkConfig, index: number, opts: CreateSinksOptions): AlertSink {
  const common = { ...(c.name ? { name: c.name } : {}), delivery: deliveryOptions(c, opts) };
  switch (c.type) {
    case "jsonl":
      return new JsonlSink({ ...common, ...(c.path && c.path !== "-" ? { path: c.path } : {}) });
    case "syslog":
      return new SyslogSink({
        ...common,
        target:
          c.transport === "unix"
            ? { transport: "unix", path: c.path as string, framing: c.framing }
            : c.transport === "tcp"
              ? { transport: "tcp", host: c.host, port: c.port, framing: c.framing }
              : { transport: "udp", host: c.host, port: c.port },
        facility: c.facility,
        sdId: c.sdId,
        ...(c.hostname ? { hostname: c.hostname } : {}),
        ...(c.maxMessageBytes ? { maxMessageBytes: c.maxMessageBytes } : {}),
        ...(c.connectTimeoutMs ? { connectTimeoutMs: c.connectTimeoutMs } : {}),
      });
    case "webhook":
      return new WebhookSink({ ...common, ...httpOptions(c, index), url: c.url, format: c.format });
    case "alertmanager":
      return new AlertmanagerSink({
        ...common,
        ...httpOptions(c, index),
        url: c.url,
        ...(c.resendIntervalMs ? { resendIntervalMs: c.resendIntervalMs } : {}),
        ...(c.maxActive ? { maxActive: c.maxActive } : {}),
        ...(c.generatorUrl ? { generatorUrl: c.generatorUrl } : {}),
      });
    case "nats":
      return new NatsSink({
        ...common,
        servers: c.servers,
        ...(c.host ? { host: c.host } : {}),
        ...(c.credentials ? { credentials: c.credentials } : {}),
        ...(c.tokenFile ? { tokenFile: c.tokenFile } : {}),
        ...(c.streamReplicas ? { stream: { replicas: c.streamReplicas } } : {}),
        ...(c.createStream !== undefined ? { createStream: c.createStream } : {}),
        ...(c.publishTimeoutMs ? { publishTimeoutMs: c.publishTimeoutMs } : {}),
      });
  }
}

function deliveryOptions(c: SinkConfig, opts: CreateSinksOptions): Partial<DeliveryOptions> {
  const out: Partial<DeliveryOptions> = {};
  if (opts.spoolDir !== undefined) out.spool = { dir: opts.spoolDir, ...(c.spoolItems ? { maxItems: c.spoolItems } : {}), ...(c.spoolBytes ? { maxBytes: c.spoolBytes } : {}) };
  if (c.bufferSize !== undefined) out.capacity = c.bufferSize;
  if (c.retries !== undefined) out.retries = c.retries;
  if (c.backoffMs !== undefined) out.backoffMs = c.backoffMs;
  if (c.maxBackoffMs !== undefined) out.maxBackoffMs = c.maxBackoffMs;
  if (c.closeTimeoutMs !== undefined) out.closeTimeoutMs = c.closeTimeoutMs;
  return out;
}

function httpOptions(
  c: Extract<SinkConfig, { type: "webhook" | "alertmanager" }>,
  index: number,
): { headers?: Record<string, string>; timeoutMs?: number } {
  let token = c.bearerToken;
  if (c.bearerTokenFile !== undefined) {
    try {
      token = readTextCapped(c.bearerTokenFile, SECRET_FILE_BYTES, c.bearerTokenFile).trim();
    } catch (err) {
      throw new SinkConfigError(`invalid sinks config:\n  ${fieldPath([index, "bearerTokenFile"])}: cannot read: ${(err as Error).message}`);
    }
  }
  const headers = { ...c.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) };
  return { ...(Object.keys(headers).length > 0 ? { headers } : {}), ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}) };
}

function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : `${out}.${String(key)}`), "sinks");
}
