// The `api:` and `metrics:` sections of the agent's YAML config (src/agent/config.ts includes
// them). The API listens on loopback unless told otherwise; /metrics is served by the API's
// listener, or by a listener of its own when metrics.port differs from api.port.

import { z } from "zod";
import { DURATION_HINT, parseDuration } from "../playbooks/duration.js";
import { DEFAULT_SESSION_SETTINGS, type SessionSettings } from "./session.js";

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1).max(255);
const duration = z.string().refine((t) => (parseDuration(t) ?? 0) > 0, DURATION_HINT);

export const consoleConfigSchema = z
  .object({
    /** Serve the web console at / (default true wherever the API is served). */
    enabled: z.boolean().optional(),
    /** A console session unused this long ends (default 30m). */
    sessionIdle: duration.optional(),
    /** A console session ends this long after login (default 12h). */
    sessionMax: duration.optional(),
    /** Mark the session cookie Secure: set it when people reach hv through a TLS proxy (default false). */
    secureCookie: z.boolean().optional(),
  })
  .strict();

export const apiConfigSchema = z
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

export const metricsConfigSchema = z
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

export type ApiConfig = z.infer<typeof apiConfigSchema>;
export type MetricsConfig = z.infer<typeof metricsConfigSchema>;
export type ConsoleConfig = z.infer<typeof consoleConfigSchema>;

/** Session lifetimes and cookie flags from the console section (validated already). */
export function sessionSettings(c: ConsoleConfig = {}): SessionSettings {
  return {
    idleMs: c.sessionIdle ? parseDuration(c.sessionIdle)! : DEFAULT_SESSION_SETTINGS.idleMs,
    maxMs: c.sessionMax ? parseDuration(c.sessionMax)! : DEFAULT_SESSION_SETTINGS.maxMs,
    secureCookie: c.secureCookie ?? DEFAULT_SESSION_SETTINGS.secureCookie,
  };
}

export const DEFAULT_API_HOST = "127.0.0.1";
export const DEFAULT_API_PORT = 8787;

/** The two sections of a loaded config (loadAgentConfig has validated them), absent ones empty. */
export function apiSettings(config: { api?: ApiConfig; metrics?: MetricsConfig }): { api: ApiConfig; metrics: MetricsConfig } {
  return { api: config.api ?? {}, metrics: config.metrics ?? {} };
}
