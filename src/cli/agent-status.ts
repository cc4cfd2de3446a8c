// `hv status`: what the running agent is doing, from what can be read without asking it anything
// privileged — its processes (/proc), its store (counts, newest event, the sources' read
// positions), and, when the config has it serve the API, /healthz and /metrics.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { AgentConfig } from "../agent/config.js";

export interface AgentProcess {
  pid: number;
  command: string;
  uptimeSeconds: number;
}

export interface StoreFacts {
  path: string;
  exists: boolean;
  /** hv.db with its WAL and shared-memory files. */
  bytes?: number;
  counts?: { schemaVersion: number; events: number; alertsOpen: number; actionsPending: number; quarantines: number };
  /** Time of the newest stored event. */
  newestEvent?: string;
  /** Each followed source's read position was last committed at… */
  sources?: Array<{ source: string; updated: string }>;
  /** API tokens that still open the API. */
  tokens?: number;
  error?: string;
}

export interface MetricsFacts {
  sources: Array<{ source: string; events: number; dropped: number }>;
  queueDepth?: number;
  stored?: number;
}

export interface AgentStatus {
  processes: AgentProcess[];
  store: StoreFacts;
  /** When the config serves the API (or a metrics port): what it answered. */
  api?: { url: string; healthz: string; metrics?: string };
  metrics?: MetricsFacts;
}

export interface StatusOptions {
  stateDir: string;
  config: AgentConfig;
  configPath?: string;
  /** Another API address than the config's (http://host:port). */
  url?: string;
  /** /proc (tests use a copy). */
  procDir?: string;
}

export async function agentStatus(opts: StatusOptions): Promise<AgentStatus> {
  const status: AgentStatus = { processes: agentProcesses(opts.procDir ?? "/proc"), store: await storeFacts(opts.stateDir) };
  const url = opts.url ?? apiUrl(opts.config);
  if (url) {
    status.api = { url, healthz: await getText(`${url}/healthz`).then((t) => (/"status":\s*"ok"/.test(t) ? "ok" : `unexpected answer: ${t.slice(0, 200)}`), (err: Error) => err.message) };
    const metrics = await getText(`${url}/metrics`).catch((err: Error) => err);
    if (metrics instanceof Error) status.api.metrics = metrics.message;
    else {
      status.api.metrics = "ok";
      status.metrics = parseMetrics(metrics);
    }
  }
  return status;
}

/** The agent's address from its config: /metrics on its own port, else the API's. */
function apiUrl(config: AgentConfig): string | undefined {
  const host = (h: string): string => (h.includes(":") ? `[${h}]` : h === "0.0.0.0" ? "127.0.0.1" : h === "::" ? "[::1]" : h);
  if (config.api?.enabled) return `http://${host(config.api.host ?? "127.0.0.1")}:${config.api.port ?? 8787}`;
  if (config.metrics?.port !== undefined) return `http://${host(config.metrics.host ?? "127.0.0.1")}:${config.metrics.port}`;
  return undefined;
}

async function getText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) }).catch((err: Error) => {
    throw new Error(`no answer (${(err.cause as Error | undefined)?.message ?? err.message})`);
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}${res.status === 401 || res.status === 403 ? " (metrics.auth needs a viewer token)" : ""}`);
  return text;
}

/** The lines of hv's own metrics that say how the sources do. */
export function parseMetrics(text: string): MetricsFacts {
  const sources = new Map<string, { source: string; events: number; dropped: number }>();
  const row = (source: string): { source: string; events: number; dropped: number } => {
    const r = sources.get(source) ?? { source, events: 0, dropped: 0 };
    sources.set(source, r);
    return r;
  };
  const out: MetricsFacts = { sources: [] };
  for (const line of text.split("\n")) {
    const m = /^(hv_\w+)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, labels, value] = m as unknown as [string, string, string | undefined, string];
    const source = /source="([^"]*)"/.exec(labels ?? "")?.[1];
    if (name === "hv_events_total" && source !== undefined) row(source).events = Number(value);
    else if (name === "hv_events_dropped_total" && source !== undefined) row(source).dropped = Number(value);
    else if (name === "hv_queue_depth") out.queueDepth = Number(value);
    else if (name === "hv_events_stored_total") out.stored = Number(value);
  }
  out.sources = [...sources.values()].sort((a, b) => a.source.localeCompare(b.source));
  return out;
}

/** Running `hv monitor` processes (and `hv api serve`), found by their command line. */
export function agentProcesses(procDir = "/proc"): AgentProcess[] {
  const out: AgentProcess[] = [];
  const bootUptime = Number(readFileSync(join(procDir, "uptime"), "utf8").split(" ")[0]);
  for (const entry of readdirSync(procDir)) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let argv: string[];
    try {
      argv = readFileSync(join(procDir, entry, "cmdline"), "utf8").split("\0").filter(Boolean);
    } catch {
      continue; // gone, or not ours to read
    }
    const at = argv.findIndex((a) => basename(a) === "hv" || /(^|\/)bin\/hv(\.js)?$/.test(a));
    if (at === -1) continue;
    const rest = argv.slice(at + 1);
    const sub = rest.find((a) => !a.startsWith("-"));
    if (sub !== "monitor" && !(sub === "api" && rest.includes("serve"))) continue;
    let uptimeSeconds = 0;
    try {
      const stat = readFileSync(join(procDir, entry, "stat"), "utf8");
      const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
      uptimeSeconds = Math.max(0, bootUptime - startTicks / 100);
    } catch {
      // exited between the two reads
    }
    out.push({ pid: Number(entry), command: ["hv", ...rest].join(" "), uptimeSeconds });
  }
  return out;
}

async function storeFacts(stateDir: string): Promise<StoreFacts> {
  const path = join(stateDir, "hv.db");
  if (!existsSync(path)) return { path, exists: false };
  const bytes = ["", "-wal", "-shm"].reduce((n, suffix) => n + (statSync(path + suffix, { throwIfNoEntry: false })?.size ?? 0), 0);
  try {
    const [{ openStore }, { storeCounts }, { countActiveTokens }, { prepared }] = await Promise.all([import("../store/open.js"), import("../api/queries.js"), import("../api/tokens.js"), import("../store/statements.js")]);
    const db = openStore(path);
    try {
      const newest = prepared<[], number | null>(db, "SELECT max(ts) FROM events").pluck().get();
      const sources = prepared<[], { source: string; updated: number }>(db, "SELECT source, updated FROM checkpoints ORDER BY source").all();
      return {
        path,
        exists: true,
        bytes,
        counts: storeCounts(db),
        ...(newest ? { newestEvent: new Date(newest).toISOString() } : {}),
        sources: sources.map((s) => ({ source: s.source, updated: new Date(s.updated).toISOString() })),
        tokens: countActiveTokens(db),
      };
    } finally {
      db.close();
    }
  } catch (err) {
    return { path, exists: true, bytes, error: err instanceof Error ? err.message : String(err) };
  }
}
