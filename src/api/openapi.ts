// The OpenAPI 3.1 document, built from the route table alone (JSON Schema is OpenAPI 3.1's schema
// language, so the route schemas go in unchanged). docs/openapi.json is this function's output;
// a test regenerates it and compares.

import type { RouteSpec } from "./routes.js";
import { error, type JsonSchema } from "./schemas.js";

/** The API's own version (its contract), not hv's: it changes when the routes or schemas do. */
export const API_VERSION = "1.0.0";

type Doc = Record<string, unknown>;

const ERRORS: Record<string, string> = {
  "400": "Invalid input: a parameter, query field or body field is missing, of the wrong type, out of range, or unknown.",
  "401": "No bearer token, or an unknown, malformed or revoked one.",
  "403": "The token's role is below the route's; or, with a console session cookie, a change without the session's X-CSRF-Token, or a change from another site's page (Origin).",
  "404": "No such object (or no such route).",
  "409": "The object is not in a state that allows this (e.g. an action that is not pending).",
  "429": "Rate limit exceeded (per token, or per address without a valid token).",
};

/** fastify's /alerts/:id → OpenAPI's /alerts/{id}. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function parameters(schema: JsonSchema | undefined, where: "path" | "query"): Doc[] {
  if (!schema) return [];
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => ({ name, in: where, required: where === "path" || required.has(name), schema: s }));
}

function operation(spec: RouteSpec): Doc {
  const responses: Doc = {};
  const ok = String(spec.status ?? 200);
  responses[ok] = spec.text
    ? { description: "Prometheus text exposition format 0.0.4.", content: { "text/plain": { schema: { type: "string" } } } }
    : spec.stream
      ? { description: "Server-sent events (event: ready | alert | action | end; data: JSON).", content: { "text/event-stream": { schema: { type: "string" } } } }
      : spec.download
        ? { description: "The file, as an attachment.", content: { "application/gzip": { schema: { type: "string", contentMediaType: "application/gzip" } } } }
        : { description: "Success.", content: { "application/json": { schema: spec.response ?? {} } } };
  const codes = new Set(["429"]);
  if (spec.params || spec.query || spec.body) codes.add("400");
  if (spec.access !== "public") codes.add("401").add("403");
  if (spec.params || spec.access === "metrics") codes.add("404");
  if (/approve|deny|tokens$/.test(spec.path) && spec.method === "POST") codes.add("409");
  for (const code of [...codes].sort()) responses[code] = { description: ERRORS[code], content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
  const op: Doc = {
    operationId: operationId(spec),
    summary: spec.summary,
    tags: [spec.tag],
    "x-hv-role": spec.access,
    parameters: [...parameters(spec.params, "path"), ...parameters(spec.query, "query")],
    responses,
  };
  if (spec.body) op.requestBody = { required: Boolean((spec.body.required as string[] | undefined)?.length), content: { "application/json": { schema: spec.body } } };
  if (spec.access === "public") op.security = [];
  // /metrics: a token when metrics auth is on (the default off loopback), none otherwise.
  else if (spec.access === "metrics") op.security = [{}, { bearer: [] }];
  else op.security = [{ bearer: [] }, { session: [] }];
  return op;
}

/** e.g. GET /api/v1/alerts/:id/events → getAlertsIdEvents */
function operationId(spec: RouteSpec): string {
  const words = spec.path.replace(/^\/api\/v1/, "").split(/[/:]+/).filter(Boolean);
  return spec.method.toLowerCase() + words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join("");
}

export function buildOpenApi(routes: readonly RouteSpec[]): Doc {
  const paths: Record<string, Record<string, Doc>> = {};
  for (const spec of routes) {
    const p = openApiPath(spec.path);
    (paths[p] ??= {})[spec.method.toLowerCase()] = operation(spec);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "hv REST API",
      version: API_VERSION,
      description: "The REST API of hv, the Hyper-NixOS security-monitoring agent. Bearer tokens (hv api token create NAME --role viewer|operator|admin); see docs/api.md.",
    },
    servers: [{ url: "http://127.0.0.1:8787" }],
    security: [{ bearer: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "hv_ followed by 43 base64url characters; roles viewer < operator < admin." },
        session: {
          type: "apiKey",
          in: "cookie",
          name: "hv_session",
          description: "The web console's session, set by POST /api/v1/session; it has its token's role. POST and DELETE with it also need the session's CSRF secret in the X-CSRF-Token header.",
        },
      },
      schemas: { Error: error },
    },
  };
}
