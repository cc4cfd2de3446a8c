// The `api:` and `metrics:` sections of the agent's YAML config (src/agent/config.ts includes
// them). The API listens on loopback unless told otherwise; /metrics is served by the API's
// listener, or by a listener of its own when metrics.port differs from api.port.

import { z } from "zod";

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1).max(255);

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

export const DEFAULT_API_HOST = "127.0.0.1";
export const DEFAULT_API_PORT = 8787;

/** The two sections of a loaded config (loadAgentConfig has validated them), absent ones empty. */
export function apiSettings(config: { api?: ApiConfig; metrics?: MetricsConfig }): { api: ApiConfig; metrics: MetricsConfig } {
  return { api: config.api ?? {}, metrics: config.metrics ?? {} };
}
