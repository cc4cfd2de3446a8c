// Where the API and /metrics listen, from the `api:` and `metrics:` sections of the agent's YAML
// config (their schema is in src/agent/config.ts). The API listens on loopback unless told
// otherwise; /metrics is served by the API's listener, or by a listener of its own when
// metrics.port differs from api.port.

import { parseDuration } from "../events/duration.js";
import type { AgentConfig } from "../agent/config.js";
import { DEFAULT_SESSION_SETTINGS, type SessionSettings } from "./session.js";

export type ApiConfig = NonNullable<AgentConfig["api"]>;
export type MetricsConfig = NonNullable<AgentConfig["metrics"]>;
export type ConsoleConfig = NonNullable<ApiConfig["console"]>;

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
