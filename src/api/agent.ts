// The REST API and /metrics served by the agent itself (docs/api.md), when the config enables
// them. Approvals and releases go through the agent's own engine and firewall, so they act at once.

import type Database from "better-sqlite3";
import { apiSettings, DEFAULT_API_HOST, DEFAULT_API_PORT } from "./config.js";
import { consoleServerOptions } from "./console.js";
import { createAgentMetrics, type AgentMetrics } from "./metrics.js";
import { defaultResponseOps } from "./response.js";
import { startApiListeners, startApiServer, type RunningApi } from "./server.js";
import type { Responder } from "../playbooks/engine.js";
import type { LibvirtBackend } from "../vm/backend.js";
import type { AgentConfig } from "../agent/config.js";
import type { FirewallSyncer } from "../firewall/sync.js";

export interface ApiSetup {
  /** The recorders the pipeline, detectors and engine feed; present whenever something serves them. */
  metrics?: AgentMetrics;
  /** Serves; the console's VM actions run through the agent's response engine, set up after the API. */
  start(bind?: { responder?: Responder }): Promise<void>;
  close(): Promise<void>;
}

export interface ApiSetupOptions {
  config: AgentConfig;
  db: Database.Database;
  stateDir: string;
  live: boolean;
  /** libvirt, for /api/v1/vms (without it only quarantined VMs are listed). */
  backend?: LibvirtBackend;
  firewall?: FirewallSyncer;
  report: (t: string) => void;
}

export function setUpApi(opts: ApiSetupOptions): ApiSetup {
  const settings = apiSettings(opts.config);
  const serveMetrics = settings.metrics.enabled !== false && (settings.api.enabled === true || settings.metrics.port !== undefined);
  if (!opts.live || (!settings.api.enabled && !serveMetrics)) return { start: async () => undefined, close: async () => undefined };
  const metrics = serveMetrics ? createAgentMetrics({ db: opts.db }) : undefined;
  const firewall = opts.firewall;
  let servers: RunningApi[] = [];
  return {
    ...(metrics ? { metrics } : {}),
    async start(bind = {}) {
      const host = settings.api.host ?? DEFAULT_API_HOST;
      const port = settings.api.port ?? DEFAULT_API_PORT;
      const common = {
        db: opts.db,
        stateDir: opts.stateDir,
        ...(opts.backend ? { backend: opts.backend } : {}),
        ...(metrics ? { metrics: metrics.registry } : {}),
        ...(settings.metrics.auth !== undefined ? { metricsAuth: settings.metrics.auth } : {}),
        ops: defaultResponseOps({
          db: opts.db,
          stateDir: opts.stateDir,
          ...(firewall ? { syncFirewall: async () => void (await firewall.sync()) } : {}),
          ...(bind.responder ? { responder: bind.responder } : {}),
          feedAllowlist: opts.config.feeds?.allowlist,
        }),
        rateLimit: { ...(settings.api.rateLimit?.max !== undefined ? { max: settings.api.rateLimit.max } : {}), windowMs: (settings.api.rateLimit?.windowSeconds ?? 60) * 1000 },
      };
      try {
        const web: Partial<ReturnType<typeof consoleServerOptions>> = settings.api.enabled ? consoleServerOptions(settings.api.console, (t) => opts.report(`api: ${t}`)) : {};
        servers = settings.api.enabled
          ? await startApiListeners({ ...common, ...web, host, port, metricsListener: settings.metrics })
          : [await startApiServer({ ...common, host: settings.metrics.host ?? DEFAULT_API_HOST, port: settings.metrics.port!, onlyMetrics: true })];
        const what = settings.api.enabled ? `API under /api/v1, /metrics${web.console ? ", console at /" : ""}` : "/metrics";
        opts.report(`api: ${servers.map((s) => s.url).join(" and ")} (${what})`);
      } catch (err) {
        opts.report(`api: not serving: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
    async close() {
      for (const s of servers) await s.close();
    },
  };
}
