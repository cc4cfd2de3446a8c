import type { Command } from "commander";
import { loadAgentConfig } from "../agent/config.js";
import { onPath } from "../agent/system.js";
import { apiSettings, DEFAULT_API_HOST, DEFAULT_API_PORT } from "../api/config.js";
import { consoleServerOptions } from "../api/console.js";
import { defaultResponseOps } from "../api/response.js";
import { responseSettings } from "../agent/response-context.js";
import { createResponder } from "../playbooks/engine.js";
import { buildActionEnv } from "../playbooks/env.js";
import { createRegistry } from "../playbooks/registry.js";
import { createAgentMetrics } from "../api/metrics.js";
import { buildOpenApi } from "../api/openapi.js";
import { ROUTES } from "../api/routes.js";
import { startApiListeners, type RunningApi } from "../api/server.js";
import { createToken, isRole, listTokens, revokeToken, ROLES, type ApiToken } from "../api/tokens.js";
import { defaultStateDir, openStateStore, stateDirOf, storePath } from "../store/open.js";
import { resolveUri, VirshBackend } from "../vm/virsh.js";
import { LineWriter } from "./output.js";
import { writeSafe } from "../events/terminal.js";
import { actingUser } from "../events/actor.js";

interface StoreOptions {
  stateDir: string;
  json?: boolean;
}

interface ServeOptions {
  host?: string;
  port?: string;
  stateDir?: string;
  config?: string;
  libvirt: boolean;
  libvirtUri?: string;
  metricsAuth?: boolean;
  rateLimit?: string;
  log?: boolean;
}

const store = (opts: StoreOptions): ReturnType<typeof openStateStore> => openStateStore(opts.stateDir);

export function registerApi(program: Command): void {
  const api = program.command("api").description("the REST API and Prometheus metrics: serve them, manage bearer tokens, print the OpenAPI document");
  api.addHelpText(
    "after",
    `
Examples:
  hv api token create grafana --role viewer
  hv api token list
  hv api token revoke grafana
  hv api serve                              127.0.0.1:8787, /api/v1/… and /metrics
  hv api openapi > openapi.json

See docs/api.md for every endpoint, the roles and curl examples.`,
  );

  const token = api.command("token").description("bearer tokens for the API (only their SHA-256 is stored)");
  token.addHelpText("after", "\nExamples:\n  hv api token create ci --role operator\n  hv api token list --json\n  hv api token revoke ci");

  token
    .command("create <name>")
    .description("create a token and print it once (it cannot be shown again)")
    .requiredOption("--role <role>", `${ROLES.join(", ")}: viewer reads; operator also acks alerts, approves/denies actions, releases quarantines; admin also syncs feeds, manages tokens`)
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--json", "print {name, role, token} as JSON")
    .addHelpText("after", "\nExamples:\n  hv api token create grafana --role viewer\n  TOKEN=$(hv api token create ci --role operator --json | jq -r .token)")
    .action((name: string, opts: StoreOptions & { role: string }) => {
      if (!isRole(opts.role)) throw new Error(`--role must be one of ${ROLES.join(", ")}, got ${JSON.stringify(opts.role)}`);
      const db = store(opts);
      try {
        const { token: secret, record } = createToken(db, name, opts.role, `user:${actingUser()}`);
        if (opts.json) writeSafe(process.stdout, JSON.stringify({ name: record.name, role: record.role, token: secret }) + "\n");
        else {
          writeSafe(process.stdout, `${secret}\n`);
          writeSafe(process.stderr, `token ${record.name} (${record.role}) created; it is shown only now — store it (hv keeps only its SHA-256)\n`);
        }
      } finally {
        db.close();
      }
    });

  token
    .command("list")
    .description("tokens with their role, creation, last use and revocation (never the secrets)")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--json", "one JSON token per line")
    .addHelpText("after", "\nExamples:\n  hv api token list\n  hv api token list --json | jq -r 'select(.revoked == null) | .name'")
    .action(async (opts: StoreOptions) => {
      const db = store(opts);
      const all = listTokens(db);
      db.close();
      const out = new LineWriter();
      if (!opts.json) out.line(`${"NAME".padEnd(24)} ${"ROLE".padEnd(9)} ${"CREATED".padEnd(20)} ${"LAST USED".padEnd(20)} STATE`);
      for (const t of all) out.line(opts.json ? JSON.stringify(t) : formatTokenLine(t));
      if (!opts.json && all.length === 0) out.line("no tokens (create one: hv api token create NAME --role viewer)");
      await out.end();
    });

  token
    .command("revoke <name>")
    .description("revoke a token: requests with it are refused from now on (its name stays taken)")
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExample:\n  hv api token revoke grafana")
    .action((name: string, opts: StoreOptions) => {
      const db = store(opts);
      const ok = revokeToken(db, name);
      db.close();
      if (!ok) throw new Error(`no active token named ${name} (hv api token list shows them)`);
      writeSafe(process.stdout, opts.json ? JSON.stringify({ name, revoked: true }) + "\n" : `token ${name} revoked\n`);
    });

  api
    .command("serve")
    .description("run the REST API, the web console (/) and /metrics against the store, for hosts where the agent does not serve them")
    .option("--host <address>", `listen address (default ${DEFAULT_API_HOST}; another address needs a token to exist)`)
    .option("--port <port>", `listen port (default ${DEFAULT_API_PORT}; 0 picks a free one)`)
    .option("--state-dir <dir>", "where the store lives")
    .option("--config <file>", "the agent's YAML config (stateDir, api, metrics)")
    .option("--libvirt-uri <uri>", "libvirt connection for /api/v1/vms", "qemu:///system")
    .option("--no-libvirt", "do not ask libvirt (/api/v1/vms then lists quarantined VMs only)")
    .option("--metrics-auth", "require a viewer token for /metrics (default: only off loopback)")
    .option("--no-metrics-auth", "serve /metrics without a token even off loopback")
    .option("--rate-limit <n>", "requests per minute per token or address (default 600)")
    .option("--log", "log every request as JSON lines on stdout")
    .addHelpText(
      "after",
      `
It prints "listening on URL" once it serves, and stops on SIGINT/SIGTERM. The web console is at
URL/ (log in with a token; docs/console.md); api.console in --config sets its sessions.

Examples:
  hv api serve
  hv api serve --port 9100 --state-dir /var/lib/hv
  hv api serve --host 10.0.0.2 --port 8787     (needs a token: hv api token create NAME --role viewer)
  curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8787/api/v1/alerts?severity=high`,
    )
    .action(async (opts: ServeOptions) => {
      process.exitCode = await serve(opts);
    });

  api
    .command("openapi")
    .description("print the API's OpenAPI 3.1 document (docs/openapi.json is this output)")
    .addHelpText("after", "\nExample:\n  hv api openapi > docs/openapi.json")
    .action(() => {
      writeSafe(process.stdout, openApiText());
    });
}

/** The checked-in form of the document: 2-space JSON and a final newline. */
export function openApiText(): string {
  return JSON.stringify(buildOpenApi(ROUTES), null, 2) + "\n";
}

async function serve(opts: ServeOptions): Promise<number> {
  const config = opts.config ? loadAgentConfig(opts.config) : {};
  const settings = apiSettings(config);
  const stateDir = stateDirOf(opts.stateDir, config);
  const host = opts.host ?? settings.api.host ?? DEFAULT_API_HOST;
  const port = parsePort(opts.port ?? String(settings.api.port ?? DEFAULT_API_PORT));
  const db = openStateStore(stateDir);
  const metrics = settings.metrics.enabled === false ? undefined : createAgentMetrics({ db });
  const backend = opts.libvirt && onPath("virsh") ? new VirshBackend({ uri: resolveUri(opts.libvirtUri) }) : undefined;
  const max = opts.rateLimit !== undefined ? Number(opts.rateLimit) : settings.api.rateLimit?.max;
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) throw new Error(`--rate-limit must be a positive whole number, got ${JSON.stringify(opts.rateLimit)}`);
  // VM actions from the console run here, through an engine without playbooks, as the CLI's do.
  const env = buildActionEnv({ db, stateDir, config, ...(backend ? { vm: backend } : {}) });
  const responder = createResponder({ db, registry: createRegistry(), playbooks: [], env, response: responseSettings(config) });
  const ops = defaultResponseOps({ db, stateDir, responder, feedAllowlist: config.feeds?.allowlist });
  const web = consoleServerOptions(settings.api.console, (t) => writeSafe(process.stderr, `hv api serve: ${t}\n`));
  let servers: RunningApi[];
  try {
    servers = await startApiListeners({
      db,
      stateDir,
      backend,
      ops,
      ...web,
      metrics: metrics?.registry,
      metricsAuth: opts.metricsAuth ?? settings.metrics.auth,
      logger: opts.log ? { level: "info" } : false,
      host,
      port,
      rateLimit: { max, windowMs: (settings.api.rateLimit?.windowSeconds ?? 60) * 1000 },
      metricsListener: settings.metrics,
    });
  } catch (err) {
    await responder.close();
    db.close();
    writeSafe(process.stderr, `hv api serve: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  writeSafe(
    process.stdout,
    `listening on ${servers[0]!.url} (API under /api/v1, metrics at /metrics${servers[1] ? ` and ${servers[1].url}/metrics` : ""}${web.console ? `, console at ${servers[0]!.url}/` : ""}); store ${storePath(stateDir)}${backend ? `; libvirt ${backend.uri}` : "; no libvirt"}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  for (const s of servers) await s.close();
  await responder.close();
  await Promise.all(env.sinks.map((s) => s.close().catch(() => undefined)));
  db.close();
  return 0;
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be 0-65535, got ${JSON.stringify(text)}`);
  return n;
}

const when = (ms: number | null): string => (ms === null ? "-" : new Date(ms).toISOString().slice(0, 19).replace("T", " "));

function formatTokenLine(t: ApiToken): string {
  return `${t.name.padEnd(24)} ${t.role.padEnd(9)} ${when(t.created).padEnd(20)} ${when(t.lastUsed).padEnd(20)} ${t.revoked === null ? "active" : `revoked ${when(t.revoked)}`}`;
}
