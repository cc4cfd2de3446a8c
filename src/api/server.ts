// The REST API server: fastify routes built from the route table (routes.ts), bearer-token auth
// with roles (or the web console's session cookie, with a CSRF header for changes), rate limits,
// JSON errors, security headers, and the console's files. createApiServer builds it without
// listening (tests inject requests); startApiServer listens, on loopback unless told otherwise.

import { createReadStream } from "node:fs";
import { isIP } from "node:net";
import type Database from "better-sqlite3";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from "fastify";
import type { Registry } from "prom-client";
import { packageVersion } from "../events/version.js";
import { InputError } from "../events/input.js";
import { LibvirtError } from "../events/libvirt-error.js";
import type { LibvirtBackend } from "../vm/backend.js";
import { registerConsole, SECURITY_HEADERS, type ConsoleAssets } from "./console.js";
import { ApiError, codeForStatus } from "./errors.js";
import { LiveFeed } from "./live.js";
import { defaultResponseOps, type ResponseOps } from "./response.js";
import { ROUTES, type ApiContext, type EventStream, type FileDownload, type RouteSpec } from "./routes.js";
import { cookieValue, CSRF_HEADER, csrfMatches, SESSION_COOKIE, SessionStore, type Session, type SessionSettings } from "./session.js";
import { StreamRegistry } from "./sse.js";
import { activeTokenById, authenticate, countActiveTokens, roleAllows, touchToken, type ApiToken } from "./tokens.js";

export interface RateLimitOptions {
  /** Requests per window and key (a token, else the client address). Default 600. */
  max?: number;
  /** Default 60 000 (a minute). */
  windowMs?: number;
}

export interface ApiServerOptions {
  db: Database.Database;
  stateDir: string;
  backend?: LibvirtBackend;
  /** Served at /metrics; without it /metrics answers 404. */
  metrics?: Registry;
  /** What approves, denies, releases, syncs and verifies (default: defaultResponseOps). */
  ops?: ResponseOps;
  /** false turns rate limiting off (tests of other things); default 600 a minute per key. */
  rateLimit?: RateLimitOptions | false;
  /** Does /metrics need a viewer token? Default false (Prometheus on loopback scrapes without one). */
  metricsAuth?: boolean;
  logger?: FastifyServerOptions["logger"];
  /** Serve /metrics and /healthz only (a metrics listener separate from the API). */
  onlyMetrics?: boolean;
  /** Largest accepted request body (default 64 KiB; the API takes only small JSON bodies). */
  bodyLimit?: number;
  /** The web console's files (console.ts loadConsoleAssets); without them / answers 404. */
  console?: ConsoleAssets;
  /** Console session lifetimes and cookie flags (default: 30 min idle, 12 h at most, not Secure). */
  sessions?: SessionSettings;
  /** How often /api/v1/stream looks for changes in the store (default 1000 ms). */
  liveIntervalMs?: number;
}

export interface RegisteredRoute {
  method: string;
  url: string;
}

const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** The routes fastify actually registered (for the test that compares them with the OpenAPI document). */
export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  return registered.get(app) ?? [];
}

interface Caller {
  token: ApiToken;
  /** Set when the request came with the console's session cookie instead of a bearer token. */
  session?: Session;
}

// Resolved once per request: the rate limiter's key and the auth check both need it.
const callers = new WeakMap<FastifyRequest, Caller | null>();

/** A bearer token when the request has an Authorization header, else the console's session cookie. */
function callerOf(db: Database.Database, sessions: SessionStore, req: FastifyRequest): Caller | null {
  if (callers.has(req)) return callers.get(req)!;
  let caller: Caller | null = null;
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = typeof header === "string" ? /^Bearer ([^\s]+)$/i.exec(header.trim()) : null;
    const token = m ? authenticate(db, m[1]!) : undefined;
    if (token) caller = { token };
  } else {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const session = id ? sessions.use(id) : undefined;
    const token = session ? activeTokenById(db, session.tokenId) : undefined;
    if (session && token) caller = { token, session };
    else if (session) sessions.end(session.id);
  }
  callers.set(req, caller);
  return caller;
}

/** Is the caller's token (and session) still good? Asked again by long-lived answers (streams). */
function stillValid(db: Database.Database, sessions: SessionStore, caller: Caller): boolean {
  if (!activeTokenById(db, caller.token.id)) return false;
  return caller.session === undefined || sessions.alive(caller.session.id);
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** A browser's cross-site request carries another site's Origin: refused for anything that changes state. */
function crossOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || SAFE_METHODS.has(req.method)) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

export async function createApiServer(opts: ApiServerOptions): Promise<FastifyInstance> {
  // fastify and its plugin take ~0.2 s to import: only a process that serves the API loads them.
  const [{ default: Fastify }, { default: rateLimit }] = await Promise.all([import("fastify"), import("@fastify/rate-limit")]);
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    // Every route is in the table (and the OpenAPI document); no implicit HEAD twins.
    exposeHeadRoutes: false,
    // An unknown field is an error, not silently dropped (fastify's default removes it).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", useDefaults: true, allErrors: false } },
    return503OnClosing: true,
  });
  const sessions = new SessionStore(opts.sessions);
  const live = new LiveFeed(opts.db, opts.liveIntervalMs !== undefined ? { intervalMs: opts.liveIntervalMs } : {});
  const streams = new StreamRegistry();
  const ctx: ApiContext = {
    db: opts.db,
    stateDir: opts.stateDir,
    backend: opts.backend,
    ops: opts.ops ?? defaultResponseOps({ db: opts.db, stateDir: opts.stateDir }),
    metrics: opts.metrics,
    version: packageVersion(),
    startedAt: Date.now(),
    sessions,
    live,
  };
  const routes: RegisteredRoute[] = [];
  registered.set(app, routes);
  app.addHook("onRoute", (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });

  app.setErrorHandler((err: FastifyError, req, reply) => sendError(err, req, reply));
  app.addHook("onRequest", async (req, reply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) void reply.header(name, value);
    if (crossOrigin(req)) throw new ApiError(403, "cross_origin", `a ${req.method} from another site (Origin ${String(req.headers.origin).slice(0, 100)}) is refused`);
  });
  // ajv coerces "Infinity" and "1e400" (a query string; JSON's 1e400 parses to Infinity too) into
  // Infinity and then skips minimum/maximum, which it applies to finite numbers only: refuse them
  // here, after validation, before a handler hands one to SQLite.
  app.addHook("preHandler", async (req) => {
    for (const [where, value] of [["querystring", req.query], ["params", req.params], ["body", req.body]] as const) {
      const field = nonFiniteField(value);
      if (field !== undefined) throw new ApiError(400, "bad_request", `${where}${field ? ` field ${field}` : ""}: must be a finite number`);
    }
  });
  // Open streams would keep the server from closing.
  app.addHook("preClose", async () => {
    streams.endAll();
    live.stop();
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: "not_found", message: `no route ${req.method} ${req.url.slice(0, 200)} (the API is under /api/v1; see /api/v1/openapi.json)` });
  });

  if (opts.rateLimit !== false) {
    const windowMs = opts.rateLimit?.windowMs ?? 60_000;
    await app.register(rateLimit, {
      global: true,
      max: opts.rateLimit?.max ?? 600,
      timeWindow: windowMs,
      // Local monitoring (Prometheus, a health check) keeps working whatever else floods the API.
      allowList: (req) => MONITORING_PATHS.has(req.routeOptions.url ?? "") && isLoopback(clientAddress(req.ip)),
      keyGenerator: (req) => rateBucket(opts.db, sessions, req),
      errorResponseBuilder: (req, context) => ({
        statusCode: 429,
        error: "rate_limited",
        message: `rate limit of ${context.max} requests per ${describeWindow(windowMs)} exceeded ${bucketText(rateBucket(opts.db, sessions, req))}; retry in ${context.after}`,
      }),
    });
  }

  for (const spec of ROUTES) if (!opts.onlyMetrics || spec.access === "metrics" || (spec.access === "public" && !spec.path.startsWith("/api/"))) registerRoute(app, ctx, streams, spec, opts);
  if (opts.console && !opts.onlyMetrics) registerConsole(app, opts.console);
  return app;
}

/** Served to monitoring without a token; a loopback client is never rate limited on them. */
const MONITORING_PATHS = new Set(["/healthz", "/metrics"]);

/**
 * Each valid token is a bucket of its own. Without one (no token, a wrong one: guessing is limited
 * too) the bucket is the address, kept apart from the same address's monitoring requests, so a
 * flood of unauthenticated API calls never starves /healthz or /metrics, nor any token's calls.
 */
function rateBucket(db: Database.Database, sessions: SessionStore, req: FastifyRequest): string {
  const caller = callerOf(db, sessions, req);
  if (caller) return `token:${caller.token.id}`;
  return `${MONITORING_PATHS.has(req.routeOptions.url ?? "") ? "monitoring" : "anonymous"}:${clientAddress(req.ip)}`;
}

function bucketText(bucket: string): string {
  const [kind, rest] = [bucket.slice(0, bucket.indexOf(":")), bucket.slice(bucket.indexOf(":") + 1)];
  if (kind === "token") return "for this token";
  return kind === "monitoring" ? `for monitoring requests from ${rest}` : `for requests without a valid token from ${rest}`;
}

/** "1 minute", "10 seconds", "1500 ms": the configured window, not the time left in it. */
function describeWindow(ms: number): string {
  if (ms % 60_000 === 0) return ms === 60_000 ? "1 minute" : `${ms / 60_000} minutes`;
  if (ms % 1000 === 0) return ms === 1000 ? "1 second" : `${ms / 1000} seconds`;
  return `${ms} ms`;
}

/** An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d. */
function clientAddress(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

function registerRoute(app: FastifyInstance, ctx: ApiContext, streams: StreamRegistry, spec: RouteSpec, opts: ApiServerOptions): void {
  const needsToken = spec.access !== "public" && !(spec.access === "metrics" && !opts.metricsAuth);
  const needed = spec.access === "metrics" || spec.access === "public" ? "viewer" : spec.access;
  app.route({
    method: spec.method,
    url: spec.path,
    schema: {
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.query ? { querystring: spec.query } : {}),
      ...(spec.body ? { body: spec.body } : {}),
      ...(spec.response ? { response: { [spec.status ?? 200]: spec.response } } : {}),
    },
    // Auth runs after the rate limiter (onRequest, so token guessing is limited) and before the body
    // is parsed or anything validated: a caller without the right gets 401/403 and nothing else.
    preParsing: async (req, reply, payload) => {
      if (!needsToken) return payload;
      const caller = callerOf(ctx.db, ctx.sessions, req);
      if (!caller) {
        const given = req.headers.authorization !== undefined;
        const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE) !== undefined;
        void reply.header("www-authenticate", `Bearer realm="hv"${given || cookie ? ', error="invalid_token"' : ""}`);
        throw new ApiError(
          401,
          "unauthorized",
          given ? "the bearer token is unknown, malformed or revoked" : cookie ? "the console session has ended (log in again)" : "a bearer token is required: Authorization: Bearer hv_…",
        );
      }
      const { token, session } = caller;
      if (!roleAllows(token.role, needed)) throw new ApiError(403, "forbidden", `${spec.method} ${spec.path} needs the ${needed} role; token ${token.name} is ${token.role}`);
      // A cookie rides along with any request the browser makes, even one another site's page starts;
      // only hv's own page knows the session's CSRF secret.
      if (session && !SAFE_METHODS.has(req.method) && !csrfMatches(session, req.headers[CSRF_HEADER])) {
        throw new ApiError(403, "csrf", `a ${req.method} with a console session needs the session's CSRF secret in the X-CSRF-Token header`);
      }
      touchToken(ctx.db, token.id);
      return payload;
    },
    handler: async (req, reply) => {
      // Public routes (the console's login) may still see who is already logged in.
      const caller = callers.has(req) ? callers.get(req) : spec.access === "public" ? callerOf(ctx.db, ctx.sessions, req) : undefined;
      const result = await spec.handler(ctx, {
        params: (req.params ?? {}) as Record<string, unknown>,
        query: (req.query ?? {}) as Record<string, unknown>,
        body: (req.body ?? {}) as Record<string, unknown>,
        ...(caller ? { token: caller.token } : {}),
        ...(caller?.session ? { session: caller.session } : {}),
        setCookie: (value) => void reply.header("set-cookie", value),
      });
      if (spec.stream) {
        const headers = Object.fromEntries(Object.entries(reply.getHeaders()).map(([k, v]) => [k, String(v)]));
        streams.serve(reply, result as EventStream, headers, () => caller != null && stillValid(ctx.db, ctx.sessions, caller));
        return reply;
      }
      if (spec.download) return sendFile(reply, result as FileDownload);
      void reply.code(spec.status ?? 200);
      if (spec.text) void reply.type("text/plain; version=0.0.4; charset=utf-8");
      return result;
    },
  });
}

function sendFile(reply: FastifyReply, d: FileDownload): FastifyReply {
  const stream = createReadStream(d.file);
  // Removed once sent, or once the client has gone (whichever comes first).
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    void d.done().catch(() => undefined);
  };
  reply.raw.once("finish", remove);
  reply.raw.once("close", remove);
  return reply
    .code(200)
    .type(d.contentType)
    .header("content-disposition", `attachment; filename="${d.filename.replace(/[^A-Za-z0-9_.:-]/g, "_")}"`)
    .header("cache-control", "no-store")
    .send(stream);
}

function sendError(err: FastifyError | ApiError | LibvirtError | InputError | Error, req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof ApiError) {
    void reply.code(err.statusCode).send({ error: err.code, message: err.message });
    return;
  }
  if (err instanceof InputError) {
    // What the request named exists but cannot be used as it is (a damaged bundle, a bad stored file).
    void reply.code(422).send({ error: "unprocessable", message: err.message });
    return;
  }
  if (err instanceof LibvirtError) {
    // A VM that vanished between listing and asking is a 404; libvirt being down is the host's problem.
    const status = err.code === "not-found" ? 404 : err.code === "invalid-argument" ? 400 : 502;
    void reply.code(status).send({ error: status === 502 ? "libvirt" : codeForStatus(status), message: err.message });
    return;
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    void reply.code(400).send({ error: "bad_request", message: validationMessage(fe) });
    return;
  }
  const status = fe.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    void reply.code(status).send({ error: codeForStatus(status), message: fe.message });
    return;
  }
  req.log.error({ err }, "API request failed");
  void reply.code(500).send({ error: "internal", message: "internal error (see hv's log)" });
}

/** The dotted path of the first number in `value` that is not finite ("" for `value` itself), or undefined. */
function nonFiniteField(value: unknown): string | undefined {
  // A stack, not recursion: a 64 KiB body can nest 32k levels deep.
  const todo: Array<[unknown, string]> = [[value, ""]];
  while (todo.length > 0) {
    const [v, path] = todo.pop()!;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return path;
    } else if (v !== null && typeof v === "object") {
      for (const [k, child] of Object.entries(v)) todo.push([child, path ? `${path}.${k}` : k]);
    }
  }
  return undefined;
}

/** "querystring field limit: must be <= 1000", "body: unknown field extra". */
function validationMessage(fe: FastifyError): string {
  const where = fe.validationContext ?? "request";
  const first = fe.validation?.[0];
  if (!first) return `${where}: ${fe.message}`;
  const field = first.instancePath.replace(/^\//, "").replace(/\//g, ".");
  const params = first.params as { additionalProperty?: string; missingProperty?: string };
  if (params.additionalProperty !== undefined) return `${where}: unknown field ${JSON.stringify(params.additionalProperty.slice(0, 100))}`;
  if (params.missingProperty !== undefined) return `${where}: missing field ${params.missingProperty}`;
  return `${where}${field ? ` field ${field}` : ""}: ${first.message ?? "is invalid"}`;
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1" || host === "0:0:0:0:0:0:0:1";
  return false;
}

export interface StartOptions extends ApiServerOptions {
  host?: string;
  port: number;
}

export interface RunningApi {
  app: FastifyInstance;
  /** http://HOST:PORT */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Listens on `host` (default 127.0.0.1). A non-loopback address is refused while no token exists:
 * the only thing such a server would do is answer /healthz, and the first token created later
 * would be the only lock. Off loopback /metrics needs a token unless metricsAuth is false.
 */
export async function startApiServer(opts: StartOptions): Promise<RunningApi> {
  const host = opts.host ?? "127.0.0.1";
  const loopback = isLoopback(host);
  if (!loopback && countActiveTokens(opts.db) === 0) {
    throw new Error(
      `refusing to listen on ${host}: it is not a loopback address and no API token exists, so nothing but /healthz could be used and ` +
        `nobody would be let in. Create one first: hv api token create NAME --role viewer — or listen on 127.0.0.1.`,
    );
  }
  const app = await createApiServer({ ...opts, metricsAuth: opts.metricsAuth ?? !loopback });
  await app.listen({ host, port: opts.port });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;
  const shown = isIP(host) === 6 ? `[${host}]` : host;
  return { app, url: `http://${shown}:${port}`, port, close: () => app.close() };
}

export interface ListenersOptions extends Omit<ApiServerOptions, "rateLimit" | "onlyMetrics"> {
  host: string;
  port: number;
  /** A separate /metrics listener when its port differs from the API's. */
  metricsListener?: { host?: string; port?: number };
  rateLimit?: RateLimitOptions;
}

/**
 * The API listener and, when configured on another port, a /metrics-only listener — what
 * `hv api serve` and the agent both start. If the second fails the first is closed again.
 */
export async function startApiListeners(opts: ListenersOptions): Promise<RunningApi[]> {
  const { metricsListener, ...common } = opts;
  const servers: RunningApi[] = [];
  try {
    servers.push(await startApiServer(common));
    if (opts.metrics && metricsListener?.port !== undefined && metricsListener.port !== opts.port) {
      servers.push(await startApiServer({ ...common, host: metricsListener.host ?? opts.host, port: metricsListener.port, onlyMetrics: true }));
    }
  } catch (err) {
    for (const s of servers) await s.close();
    throw err;
  }
  return servers;
}
