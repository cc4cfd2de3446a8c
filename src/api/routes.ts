// The route table: every route's method, path, who may call it, and its JSON Schemas, in one
// place. server.ts registers fastify routes from it and openapi.ts builds the OpenAPI document from
// it, so the two cannot drift; the tests generate their auth matrix from it too.

import type Database from "better-sqlite3";
import type { Registry } from "prom-client";
import { parseDuration } from "../events/duration.js";
import type { HvEvent } from "../events/event.js";
import { ackAlert, getAlert, type SignalFilter } from "../store/alerts.js";
import { getAction, listActions } from "../store/actions.js";
import { activeEnforcements, listEnforcements, type Enforcement } from "../store/enforcements.js";
import { feedSyncHistory, getFeed, listFeeds } from "../store/feeds.js";
import type { LibvirtBackend } from "../vm/backend.js";
import { ApiError, badRequest, conflict, notFound } from "./errors.js";
import type { LiveFeed } from "./live.js";
import { sourceCounts } from "./metrics.js";
import { buildOpenApi } from "./openapi.js";
import { alertTimeline, eventIdsFor, MAX_RULE_ALERTS, queryAlerts, queryEvents, storeCounts } from "./queries.js";
import type { ResponseOps, VmAction } from "./response.js";
import * as s from "./schemas.js";
import { sessionCookie, type Session, type SessionStore } from "./session.js";
import { authenticate, createToken, getToken, listTokens, revokeToken, type ApiToken, type Role } from "./tokens.js";

export const API_PREFIX = "/api/v1";

/** public: no token; metrics: a viewer token unless metrics auth is off; otherwise the least role. */
export type Access = "public" | "metrics" | Role;

export interface ApiContext {
  db: Database.Database;
  stateDir: string;
  backend?: LibvirtBackend;
  ops: ResponseOps;
  metrics?: Registry;
  version: string;
  startedAt: number;
  /** The console's browser sessions (session.ts). */
  sessions: SessionStore;
  /** New and changed alerts and actions, for /api/v1/stream (live.ts). */
  live: LiveFeed;
}

export interface RouteRequest {
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
  /** The caller's token (absent on public routes). */
  token?: ApiToken;
  /** The browser session the request came with, when it came with one instead of a bearer token. */
  session?: Session;
  /** Adds a Set-Cookie header to the answer. */
  setCookie(value: string): void;
}

/** What a `stream` route's handler answers: server.ts writes it as server-sent events. */
export interface EventStream {
  /** End the stream after this long (0: right after what open() sends at once). */
  seconds: number;
  /** Starts sending; returns what stops it. */
  open(send: (event: string, data: unknown) => void): () => void;
}

/** What a `download` route's handler answers: server.ts sends the file, then calls done(). */
export interface FileDownload {
  file: string;
  filename: string;
  contentType: string;
  done(): Promise<void>;
}

export interface RouteSpec {
  method: "GET" | "POST" | "DELETE";
  /** fastify syntax: /api/v1/alerts/:id */
  path: string;
  access: Access;
  /** Groups routes in the OpenAPI document. */
  tag: string;
  summary: string;
  params?: s.JsonSchema;
  query?: s.JsonSchema;
  body?: s.JsonSchema;
  /** Status of a success (default 200). */
  status?: number;
  /** Schema of a success body; absent with `text`. */
  response?: s.JsonSchema;
  /** The answer is text/plain (Prometheus exposition). */
  text?: boolean;
  /** The answer is text/event-stream: the handler returns an EventStream. */
  stream?: boolean;
  /** The answer is a file: the handler returns a FileDownload. */
  download?: boolean;
  handler(ctx: ApiContext, req: RouteRequest): unknown;
}

const MAX_BUCKETS = 500;
const sourceTotals: s.JsonSchema = { type: "array", items: s.openObject({ source: { type: "string" }, total: { type: "number" } }, ["source", "total"]) };

/** The caller as recorded in the store: "api:NAME". */
const caller = (req: RouteRequest): string => `api:${req.token?.name ?? "anonymous"}`;

/** An ISO time or an age before now, as ms since the epoch; the schema has checked the shape. */
export function parseTime(value: unknown, field: string, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const age = parseDuration(text);
  if (age !== undefined) return now - age;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw badRequest(`${field} is not a valid time: ${JSON.stringify(text)}`);
  return ms;
}

const str = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));
const num = (v: unknown): number => Number(v);

function quarantineMap(db: Database.Database): Map<string, Enforcement> {
  return new Map(activeEnforcements(db, "quarantine").map((e) => [e.target, e]));
}

export const ROUTES: readonly RouteSpec[] = [
  // --- health ------------------------------------------------------------------------------
  {
    method: "GET",
    path: "/healthz",
    access: "public",
    tag: "health",
    summary: "Liveness without a token: answers ok while the process serves and the store is readable. Says nothing else.",
    response: s.openObject({ status: { type: "string", enum: ["ok"] } }, ["status"]),
    handler: (ctx) => {
      ctx.db.prepare("SELECT 1").get();
      return { status: "ok" };
    },
  },
  {
    method: "GET",
    path: `${API_PREFIX}/health`,
    access: "viewer",
    tag: "health",
    summary: "Version, uptime, store schema and counts, and the caller's role.",
    response: s.openObject(
      {
        status: { type: "string" },
        version: { type: "string" },
        uptimeSeconds: { type: "number" },
        libvirt: { type: "boolean" },
        store: s.openObject({ schemaVersion: { type: "integer" }, events: { type: "integer" }, alertsOpen: { type: "integer" }, actionsPending: { type: "integer" }, quarantines: { type: "integer" } }),
        token: s.openObject({ name: { type: "string" }, role: s.role }),
      },
      ["status", "version", "store"],
    ),
    handler: (ctx, req) => ({
      status: "ok",
      version: ctx.version,
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
      libvirt: ctx.backend !== undefined,
      store: storeCounts(ctx.db),
      token: { name: req.token?.name, role: req.token?.role },
    }),
  },

  {
    method: "GET",
    path: `${API_PREFIX}/openapi.json`,
    access: "viewer",
    tag: "health",
    summary: "This API's OpenAPI 3.1 document (the same as docs/openapi.json).",
    response: s.openObject({ openapi: { type: "string" }, info: s.openObject({}), paths: s.openObject({}) }, ["openapi", "paths"]),
    handler: () => buildOpenApi(ROUTES),
  },

  // --- console sessions ----------------------------------------------------------------------
  {
    method: "POST",
    path: `${API_PREFIX}/session`,
    access: "public",
    tag: "session",
    summary:
      "Log in to the web console with an API token: answers the token's name and role and a CSRF secret, and sets an HttpOnly session cookie. Requests made with the cookie act with the token's role; state-changing ones must send the CSRF secret in the X-CSRF-Token header.",
    body: s.strictObject({ token: s.tokenSecret }, ["token"]),
    response: s.session,
    handler: (ctx, req) => {
      const token = authenticate(ctx.db, String(req.body.token));
      if (!token) throw new ApiError(401, "unauthorized", "the token is unknown, malformed or revoked");
      if (req.session) ctx.sessions.end(req.session.id);
      const session = ctx.sessions.start(token.id);
      req.setCookie(sessionCookie(session, ctx.sessions.settings));
      return sessionView(ctx, token, session);
    },
  },
  {
    method: "GET",
    path: `${API_PREFIX}/session`,
    access: "public",
    tag: "session",
    summary:
      "Who the caller is: the token's name and role, and for a console session its CSRF secret and when it ends if unused; all null without a valid token or session (the console asks this at load, before anyone has logged in).",
    response: s.session,
    handler: (ctx, req) => (req.token ? sessionView(ctx, req.token, req.session) : { token: null, csrf: null, expires: null }),
  },
  {
    method: "DELETE",
    path: `${API_PREFIX}/session`,
    access: "viewer",
    tag: "session",
    summary: "Log out: ends the console session and removes its cookie (a bearer token stays valid: revoke it with DELETE /api/v1/tokens/{name}).",
    response: s.openObject({ ended: { type: "boolean" } }, ["ended"]),
    handler: (ctx, req) => {
      if (req.session) ctx.sessions.end(req.session.id);
      req.setCookie(sessionCookie(undefined, ctx.sessions.settings));
      return { ended: req.session !== undefined };
    },
  },

  // --- live ----------------------------------------------------------------------------------
  {
    method: "GET",
    path: `${API_PREFIX}/stream`,
    access: "viewer",
    tag: "live",
    summary:
      "Server-sent events: `ready` at once, then `alert` (an alert in full) and `action` (an action row) for every new or changed one, a comment every 15 s. The stream ends after `seconds` (EventSource reconnects by itself), or at once when the token is revoked or the session ends.",
    query: s.strictObject({ seconds: { type: "integer", minimum: 0, maximum: 3600, default: 300 } }),
    stream: true,
    handler: (ctx, { query }): EventStream => ({
      seconds: num(query.seconds),
      open: (send) => {
        const stop = ctx.live.subscribe((changes) => {
          for (const c of changes) send(c.kind, c.data);
        });
        send("ready", { at: new Date().toISOString() });
        return stop;
      },
    }),
  },

  // --- alerts --------------------------------------------------------------------------------
  {
    method: "GET",
    path: `${API_PREFIX}/alerts`,
    access: "viewer",
    tag: "alerts",
    summary: "Alerts, newest first (by last seen). since/until bound last seen. Signals (stored, not sent: third-party Sigma hits below the routing level) only with signals=include or signals=only.",
    query: s.strictObject({
      severity: s.severity, rule: s.ruleId, vm: s.vmName, status: { type: "string", enum: ["open", "acked"] }, since: s.time, until: s.time,
      signals: { type: "string", enum: ["exclude", "include", "only"] }, limit: s.limit(s.MAX_LIST, 100),
    }),
    response: s.listOf("alerts", s.alert),
    handler: (ctx, { query: q }) => ({
      alerts: queryAlerts(ctx.db, {
        severity: str(q.severity), ruleId: str(q.rule), vmName: str(q.vm), status: str(q.status),
        sinceMs: parseTime(q.since, "since"), untilMs: parseTime(q.until, "until"), signals: str(q.signals) as SignalFilter | undefined, limit: num(q.limit),
      }),
    }),
  },
  {
    method: "GET",
    path: `${API_PREFIX}/alerts/timeline`,
    access: "viewer",
    tag: "alerts",
    summary: `New alerts (by first seen) per severity in equal steps from since to now: at most ${MAX_BUCKETS} steps.`,
    query: s.strictObject({ since: { ...s.time, default: "24h" }, step: { ...s.age, default: "1h" } }),
    response: s.openObject(
      { since: { type: "string" }, stepSeconds: { type: "integer" }, buckets: { type: "array", items: s.openObject({ start: { type: "string" }, counts: s.openObject({}) }, ["start", "counts"]) } },
      ["since", "stepSeconds", "buckets"],
    ),
    handler: (ctx, { query }) => {
      const now = Date.now();
      const stepMs = parseDuration(String(query.step))!;
      if (stepMs === 0) throw badRequest("step must be longer than 0");
      // Steps start on multiples of the step (whole hours for 1h), so their labels read well.
      const sinceMs = Math.floor(parseTime(query.since, "since", now)! / stepMs) * stepMs;
      if (sinceMs >= now) throw badRequest("since must be in the past");
      const buckets = Math.ceil((now - sinceMs) / stepMs);
      if (buckets > MAX_BUCKETS) throw badRequest(`since/step make ${buckets} steps; at most ${MAX_BUCKETS}`);
      return { since: new Date(sinceMs).toISOString(), stepSeconds: stepMs / 1000, buckets: alertTimeline(ctx.db, sinceMs, stepMs, buckets) };
    },
  },
  {
    method: "GET",
    path: `${API_PREFIX}/alerts/:id`,
    access: "viewer",
    tag: "alerts",
    summary: "One alert in full.",
    params: s.idParams,
    response: s.alert,
    handler: (ctx, { params }) => getAlert(ctx.db, num(params.id)) ?? notFoundOf("alert", params.id),
  },
  {
    method: "POST",
    path: `${API_PREFIX}/alerts/:id/ack`,
    access: "operator",
    tag: "alerts",
    summary: "Acknowledge an alert (a new detection then opens a new alert).",
    params: s.idParams,
    response: s.alert,
    handler: (ctx, { params }) => {
      if (!ackAlert(ctx.db, num(params.id))) notFoundOf("alert", params.id);
      return getAlert(ctx.db, num(params.id));
    },
  },
  {
    method: "GET",
    path: `${API_PREFIX}/alerts/:id/events`,
    access: "viewer",
    tag: "alerts",
    summary: "The stored events behind an alert, oldest first (events past retention are gone).",
    params: s.idParams,
    query: s.strictObject({ limit: s.limit(s.MAX_EVENTS, 500) }),
    response: s.listOf("events", s.event),
    handler: (ctx, { params, query }) => {
      const alert = getAlert(ctx.db, num(params.id)) ?? notFoundOf("alert", params.id);
      return { events: queryEvents(ctx.db, { ids: alert.event_ids, limit: num(query.limit) }) };
    },
  },

  // --- events --------------------------------------------------------------------------------
  {
    method: "GET",
    path: `${API_PREFIX}/events`,
    access: "viewer",
    tag: "events",
    summary: `Stored events, oldest first, by time range (since inclusive, until exclusive), VM, module and action; rule= gives the events behind that rule's newest ${MAX_RULE_ALERTS} alerts, alert= those behind one alert. At most ${s.MAX_EVENTS} per request.`,
    query: s.strictObject({ since: s.time, until: s.time, vm: s.vmName, module: s.word, action: s.word, rule: s.ruleId, alert: s.id, limit: s.limit(s.MAX_EVENTS, 500) }),
    response: s.listOf("events", s.event),
    handler: (ctx, { query: q }): { events: HvEvent[] } => {
      const alert = q.alert !== undefined ? (getAlert(ctx.db, num(q.alert)) ?? notFoundOf("alert", q.alert)) : undefined;
      const ids = eventIdsFor(ctx.db, { ruleId: str(q.rule), alert });
      return {
        events: queryEvents(ctx.db, {
          sinceMs: parseTime(q.since, "since"), untilMs: parseTime(q.until, "until"), vmName: str(q.vm), module: str(q.module), action: str(q.action), ids, limit: num(q.limit),
        }),
      };
    },
  },

  {
    method: "GET",
    path: `${API_PREFIX}/sources`,
    access: "viewer",
    tag: "events",
    summary:
      "Events stored since this process started by source (event module: hv_events_total) and events lost by collector (hv_events_dropped_total); empty lists where this process runs no pipeline (hv api serve).",
    response: s.openObject({ at: { type: "string" }, events: sourceTotals, dropped: sourceTotals }, ["at", "events", "dropped"]),
    handler: async (ctx) => ({ at: new Date().toISOString(), ...(ctx.metrics ? await sourceCounts(ctx.metrics) : { events: [], dropped: [] }) }),
  },

  // --- VMs -----------------------------------------------------------------------------------
  {
    method: "GET",
    path: `${API_PREFIX}/vms`,
    access: "viewer",
    tag: "vms",
    summary: "The host's VMs (from libvirt when this process has it) with their quarantine state; without libvirt, the quarantined VMs only.",
    response: s.openObject({ libvirt: { type: "boolean" }, vms: { type: "array", items: s.vm } }, ["libvirt", "vms"]),
    handler: async (ctx) => {
      const quarantined = quarantineMap(ctx.db);
      if (!ctx.backend) return { libvirt: false, vms: [...quarantined.values()].map((q) => ({ name: q.target, state: "unknown", quarantined: true, quarantine: q })) };
      const domains = await ctx.backend.listDomains({ all: true });
      return { libvirt: true, vms: domains.map((d) => ({ ...d, quarantined: quarantined.has(d.name), quarantine: quarantined.get(d.name) ?? null })) };
    },
  },
  {
    method: "GET",
    path: `${API_PREFIX}/vms/:name`,
    access: "viewer",
    tag: "vms",
    summary: "One VM: libvirt's information, its quarantine state and its open alerts.",
    params: s.strictObject({ name: s.vmName }, ["name"]),
    response: s.openObject({ name: { type: "string" }, quarantined: { type: "boolean" }, quarantine: { anyOf: [s.enforcement, { type: "null" }] }, info: { type: ["object", "null"], additionalProperties: true }, openAlerts: { type: "integer" } }, ["name", "quarantined"]),
    handler: async (ctx, { params }) => {
      const name = String(params.name);
      const quarantine = quarantineMap(ctx.db).get(name) ?? null;
      let info: Record<string, unknown> | null = null;
      if (ctx.backend) {
        const known = (await ctx.backend.listDomains({ all: true })).some((d) => d.name === name);
        if (!known) notFoundOf("VM", name);
        info = { ...(await ctx.backend.domainInfo(name)) };
      } else if (!quarantine) notFoundOf("VM (this process has no libvirt; only quarantined VMs are known)", name);
      const openAlerts = queryAlerts(ctx.db, { vmName: name, status: "open", limit: s.MAX_LIST }).length;
      return { name, quarantined: quarantine !== null, quarantine, info, openAlerts };
    },
  },
  vmActionRoute("pause", "pause_vm", "Pause a VM (its vCPUs stop; memory and connections stay), as the pause_vm action run by hand: recorded, allowlists apply. The answer is the finished action row (a failure is a result: status failed)."),
  vmActionRoute("resume", "resume_vm", "Resume a paused VM, as the resume_vm action run by hand. The answer is the finished action row."),
  {
    ...vmActionRoute(
      "forensics",
      "forensic_capture",
      "Capture a signed forensic bundle of the VM (memory and disk unless false; pause: freeze it meanwhile) as the forensic_capture action run by hand. 202 with the running action row: a capture takes minutes; the row (and /api/v1/stream) tells when it is done.",
      s.strictObject({ memory: { type: "boolean" }, disk: { type: "boolean" }, pause: { type: "boolean" } }),
    ),
    status: 202,
  },

  // --- actions -------------------------------------------------------------------------------
  {
    method: "GET",
    path: `${API_PREFIX}/actions`,
    access: "viewer",
    tag: "actions",
    summary: "Recorded actions (playbook decisions), oldest first (order=newest: newest first); status=pending lists those waiting for approval.",
    query: s.strictObject({ status: s.word, alert: s.id, order: { type: "string", enum: ["oldest", "newest"], default: "oldest" }, limit: s.limit(s.MAX_LIST, 100) }),
    response: s.listOf("actions", s.action),
    handler: (ctx, { query: q }) => ({
      actions: listActions(ctx.db, { status: str(q.status), alertId: q.alert === undefined ? undefined : num(q.alert), newestFirst: q.order === "newest", limit: num(q.limit) }),
    }),
  },
  {
    method: "GET",
    path: `${API_PREFIX}/actions/:id`,
    access: "viewer",
    tag: "actions",
    summary: "One action.",
    params: s.idParams,
    response: s.action,
    handler: (ctx, { params }) => getAction(ctx.db, num(params.id)) ?? notFoundOf("action", params.id),
  },
  {
    method: "POST",
    path: `${API_PREFIX}/actions/:id/approve`,
    access: "operator",
    tag: "actions",
    summary: "Approve an action waiting for approval; the playbook engine runs it. 409 when it is not pending.",
    params: s.idParams,
    response: s.action,
    handler: (ctx, req) => ctx.ops.approveAction(num(req.params.id), caller(req)),
  },
  {
    method: "POST",
    path: `${API_PREFIX}/actions/:id/deny`,
    access: "operator",
    tag: "actions",
    summary: "Deny an action waiting for approval (or scheduled): it never runs. 409 when it is neither.",
    params: s.idParams,
    body: s.strictObject({ reason: s.reason }),
    response: s.action,
    handler: (ctx, req) => ctx.ops.denyAction(num(req.params.id), caller(req), str(req.body?.reason) ?? ""),
  },

  // --- quarantines ---------------------------------------------------------------------------
  {
    method: "GET",
    path: `${API_PREFIX}/quarantines`,
    access: "viewer",
    tag: "quarantines",
    summary: "Quarantines in force; all=true adds released ones (newest first).",
    query: s.strictObject({ all: { type: "boolean", default: false }, limit: s.limit(s.MAX_LIST, 100) }),
    response: s.listOf("quarantines", s.enforcement),
    handler: (ctx, { query }) => ({
      quarantines: query.all === true ? listEnforcements(ctx.db, { kind: "quarantine", limit: num(query.limit) }) : activeEnforcements(ctx.db, "quarantine").slice(0, num(query.limit)),
    }),
  },
  {
    method: "POST",
    path: `${API_PREFIX}/quarantines/:vm/release`,
    access: "operator",
    tag: "quarantines",
    summary: "Release a VM's quarantine and restore its traffic (as `hv quarantine release VM`). 404 when it is not quarantined.",
    params: s.strictObject({ vm: s.vmName }, ["vm"]),
    body: s.strictObject({ reason: s.reason }),
    response: s.enforcement,
    handler: async (ctx, req) => {
      const vm = String(req.params.vm);
      const released = await ctx.ops.releaseQuarantine(vm, caller(req), str(req.body?.reason) ?? "released through the API");
      return released ?? notFoundOf("quarantine of VM", vm);
    },
  },

  // --- feeds ---------------------------------------------------------------------------------
  {
    method: "GET",
    path: `${API_PREFIX}/feeds`,
    access: "viewer",
    tag: "feeds",
    summary: "Threat feeds with their size (entries), version and last sync.",
    response: s.listOf("feeds", s.feed),
    handler: (ctx) => ({ feeds: listFeeds(ctx.db) }),
  },
  {
    method: "GET",
    path: `${API_PREFIX}/feeds/:name`,
    access: "viewer",
    tag: "feeds",
    summary: "One feed and its recent sync attempts.",
    params: s.strictObject({ name: s.feedName }, ["name"]),
    response: s.openObject({ feed: s.feed, syncs: { type: "array", items: s.openObject({ status: { type: "string" }, startedIso: { type: "string" } }) } }, ["feed", "syncs"]),
    handler: (ctx, { params }) => {
      const feed = getFeed(ctx.db, String(params.name)) ?? notFoundOf("feed", params.name);
      return { feed, syncs: feedSyncHistory(ctx.db, feed.name, 10) };
    },
  },
  {
    method: "POST",
    path: `${API_PREFIX}/feeds/:name/sync`,
    access: "admin",
    tag: "feeds",
    summary: "Sync one feed now; the answer is the sync's result (failed and rejected syncs are results, not errors).",
    params: s.strictObject({ name: s.feedName }, ["name"]),
    response: s.syncResult,
    handler: (ctx, { params }) => {
      const name = String(params.name);
      if (!getFeed(ctx.db, name)) notFoundOf("feed", name);
      return ctx.ops.syncFeed(name);
    },
  },

  // --- forensics -----------------------------------------------------------------------------
  {
    method: "GET",
    path: `${API_PREFIX}/forensics/bundles`,
    access: "viewer",
    tag: "forensics",
    summary: "Forensic bundles on this host, oldest first (exists=false: the index names a directory that is gone).",
    response: s.listOf("bundles", s.bundle),
    handler: async (ctx) => ({ bundles: await ctx.ops.listBundles() }),
  },
  {
    method: "GET",
    path: `${API_PREFIX}/forensics/bundles/:id`,
    access: "viewer",
    tag: "forensics",
    summary: "One bundle's manifest and chain of custody; the viewing is recorded in the chain.",
    params: s.strictObject({ id: s.bundleId }, ["id"]),
    response: s.shownBundle,
    handler: async (ctx, req) => (await ctx.ops.showBundle(String(req.params.id), caller(req))) ?? notFoundOf("forensic bundle", req.params.id),
  },
  {
    method: "POST",
    path: `${API_PREFIX}/forensics/bundles/:id/verify`,
    access: "operator",
    tag: "forensics",
    summary: "Verify a bundle: every file's hash, no file missing or added, the manifest's signature, the chain of custody. ok=false names each problem and file; the check is recorded in the chain.",
    params: s.strictObject({ id: s.bundleId }, ["id"]),
    response: s.verification,
    handler: (ctx, req) => ctx.ops.verifyBundle(String(req.params.id), caller(req)),
  },
  {
    method: "GET",
    path: `${API_PREFIX}/forensics/bundles/:id/download`,
    access: "operator",
    tag: "forensics",
    summary: "The bundle as a .tar.gz (as `hv forensics export`); the export and the archive's SHA-256 are recorded in its chain of custody. Operators only: a bundle may hold a guest's memory.",
    params: s.strictObject({ id: s.bundleId }, ["id"]),
    download: true,
    handler: async (ctx, req): Promise<FileDownload> => {
      const archive = await ctx.ops.exportBundle(String(req.params.id), caller(req));
      return { file: archive.file, filename: `${archive.id}.tar.gz`, contentType: "application/gzip", done: archive.remove };
    },
  },

  // --- tokens --------------------------------------------------------------------------------
  {
    method: "GET",
    path: `${API_PREFIX}/tokens`,
    access: "admin",
    tag: "tokens",
    summary: "API tokens (never their secrets), revoked ones too.",
    response: s.listOf("tokens", s.token),
    handler: (ctx) => ({ tokens: listTokens(ctx.db) }),
  },
  {
    method: "POST",
    path: `${API_PREFIX}/tokens`,
    access: "admin",
    tag: "tokens",
    summary: "Create a token; the secret is in this answer only.",
    body: s.strictObject({ name: s.tokenName, role: s.role }, ["name", "role"]),
    status: 201,
    response: s.openObject({ token: { type: "string" }, record: s.token }, ["token", "record"]),
    handler: (ctx, req) => {
      const name = String(req.body.name);
      if (getToken(ctx.db, name)) throw conflict(`a token named ${name} already exists (revoke it, or pick another name)`);
      return createToken(ctx.db, name, req.body.role as Role, caller(req));
    },
  },
  {
    method: "DELETE",
    path: `${API_PREFIX}/tokens/:name`,
    access: "admin",
    tag: "tokens",
    summary: "Revoke a token; requests with it are refused from now on.",
    params: s.strictObject({ name: s.tokenName }, ["name"]),
    response: s.token,
    handler: (ctx, { params }) => {
      const name = String(params.name);
      if (!revokeToken(ctx.db, name)) notFoundOf("active token", name);
      return getToken(ctx.db, name);
    },
  },

  // --- metrics -------------------------------------------------------------------------------
  {
    method: "GET",
    path: "/metrics",
    access: "metrics",
    tag: "metrics",
    summary: "Prometheus metrics (text exposition format). Without a token on loopback by default; see docs/api.md.",
    text: true,
    handler: (ctx) => {
      if (!ctx.metrics) throw notFound("metrics registry in this process");
      return ctx.metrics.metrics();
    },
  },
];

function sessionView(ctx: ApiContext, token: ApiToken, session: Session | undefined): Record<string, unknown> {
  return {
    token: { name: token.name, role: token.role },
    csrf: session?.csrf ?? null,
    expires: session ? new Date(ctx.sessions.expires(session)).toISOString() : null,
  };
}

function vmActionRoute(verb: string, action: VmAction, summary: string, body?: s.JsonSchema): RouteSpec {
  return {
    method: "POST",
    path: `${API_PREFIX}/vms/:name/${verb}`,
    access: "operator",
    tag: "vms",
    summary,
    params: s.strictObject({ name: s.vmName }, ["name"]),
    response: s.action,
    ...(body ? { body } : {}),
    handler: (ctx, req) => {
      // Only a route with a body schema takes parameters; the schema has checked them.
      const params = body && Object.keys(req.body).length > 0 ? { ...req.body } : undefined;
      return ctx.ops.actOnVm(action, String(req.params.name), caller(req), { ...(params ? { params } : {}), background: action === "forensic_capture" });
    },
  };
}

function notFoundOf(what: string, value: unknown): never {
  throw notFound(`${what} ${String(value)}`);
}
