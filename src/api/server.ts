// The REST API server: fastify routes built from the route table (routes.ts), bearer-token auth
// with roles, rate limits, JSON errors. createApiServer builds it without listening (tests inject
// requests); startApiServer listens, on loopback unless told otherwise.

import { isIP } from "node:net";
import type Database from "better-sqlite3";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from "fastify";
import type { Registry } from "prom-client";
import { packageVersion } from "../cli/version.js";
import { LibvirtError } from "../vm/errors.js";
import type { LibvirtBackend } from "../vm/backend.js";
import { ApiError, codeForStatus } from "./errors.js";
import { defaultResponseOps, type ResponseOps } from "./response.js";
import { ROUTES, type ApiContext, type RouteSpec } from "./routes.js";
import { authenticate, countActiveTokens, roleAllows, touchToken, type ApiToken } from "./tokens.js";

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

// Resolved once per request: the rate limiter's key and the auth check both need it.
const callers = new WeakMap<FastifyRequest, ApiToken | null>();

function callerOf(db: Database.Database, req: FastifyRequest): ApiToken | null {
  if (callers.has(req)) return callers.get(req)!;
  const header = req.headers.authorization;
  const m = typeof header === "string" ? /^Bearer ([^\s]+)$/i.exec(header.trim()) : null;
  const token = m ? (authenticate(db, m[1]!) ?? null) : null;
  callers.set(req, token);
  return token;
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
  const ctx: ApiContext = {
    db: opts.db,
    stateDir: opts.stateDir,
    backend: opts.backend,
    ops: opts.ops ?? defaultResponseOps({ db: opts.db, stateDir: opts.stateDir }),
    metrics: opts.metrics,
    version: packageVersion(),
    startedAt: Date.now(),
  };
  const routes: RegisteredRoute[] = [];
  registered.set(app, routes);
  app.addHook("onRoute", (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });

  app.setErrorHandler((err: FastifyError, req, reply) => sendError(err, req, reply));
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: "not_found", message: `no route ${req.method} ${req.url.slice(0, 200)} (the API is under /api/v1; see /api/v1/openapi.json)` });
  });

  if (opts.rateLimit !== false) {
    await app.register(rateLimit, {
      global: true,
      max: opts.rateLimit?.max ?? 600,
      timeWindow: opts.rateLimit?.windowMs ?? 60_000,
      // A valid token is its own bucket; everyone else (no token, a wrong one) is counted by address,
      // so guessing tokens is limited too.
      keyGenerator: (req) => {
        const token = callerOf(opts.db, req);
        return token ? `token:${token.id}` : `ip:${req.ip}`;
      },
      errorResponseBuilder: (_req, context) => ({ statusCode: 429, error: "rate_limited", message: `rate limit of ${context.max} requests per ${context.after} exceeded; retry later` }),
    });
  }

  for (const spec of ROUTES) if (!opts.onlyMetrics || spec.access === "metrics" || spec.access === "public") registerRoute(app, ctx, spec, opts);
  return app;
}

function registerRoute(app: FastifyInstance, ctx: ApiContext, spec: RouteSpec, opts: ApiServerOptions): void {
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
      const token = callerOf(ctx.db, req);
      if (!token) {
        const given = req.headers.authorization !== undefined;
        void reply.header("www-authenticate", `Bearer realm="hv"${given ? ', error="invalid_token"' : ""}`);
        throw new ApiError(401, "unauthorized", given ? "the bearer token is unknown, malformed or revoked" : "a bearer token is required: Authorization: Bearer hv_…");
      }
      if (!roleAllows(token.role, needed)) throw new ApiError(403, "forbidden", `${spec.method} ${spec.path} needs the ${needed} role; token ${token.name} is ${token.role}`);
      touchToken(ctx.db, token.id);
      return payload;
    },
    handler: async (req, reply) => {
      const token = callers.get(req) ?? undefined;
      const body = await spec.handler(ctx, {
        params: (req.params ?? {}) as Record<string, unknown>,
        query: (req.query ?? {}) as Record<string, unknown>,
        body: (req.body ?? {}) as Record<string, unknown>,
        ...(token ? { token } : {}),
      });
      void reply.code(spec.status ?? 200);
      if (spec.text) void reply.type("text/plain; version=0.0.4; charset=utf-8");
      return body;
    },
  });
}

function sendError(err: FastifyError | ApiError | LibvirtError | Error, req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof ApiError) {
    void reply.code(err.statusCode).send({ error: err.code, message: err.message });
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
