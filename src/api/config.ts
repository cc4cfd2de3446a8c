// Where the API and /metrics listen, from the `api:` and `metrics:` sections of the agent's YAML
// config (their schema is in src/agent/config.ts). The API listens on loopback unless told
// otherwise; /metrics is served by the API's listener, or by a listener of its own when
// metrics.port differs from api.port.

import type { AgentConfig } from "../agent/config.js";

export type ApiConfig = NonNullable<AgentConfig["api"]>;
export type MetricsConfig = NonNullable<AgentConfig["metrics"]>;

export const DEFAULT_API_HOST = "127.0.0.1";
export const DEFAULT_API_PORT = 8787;

/** The two sections of a loaded config (loadAgentConfig has validated them), absent ones empty. */
export function apiSettings(config: { api?: ApiConfig; metrics?: MetricsConfig }): { api: ApiConfig; metrics: MetricsConfig } {
  return { api: config.api ?? {}, metrics: config.metrics ?? {} };
}
