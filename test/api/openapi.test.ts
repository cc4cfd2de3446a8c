// The OpenAPI document matches the routes: the checked-in docs/openapi.json is what the route
// table produces now, every route fastify registered is in it, and every operation in it is
// registered. Regenerate with: npm run build && node bin/hv.js api openapi > docs/openapi.json

import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { FastifyInstance } from "fastify";
import { openApiText } from "../../src/cli/api.js";
import { buildOpenApi, openApiPath } from "../../src/api/openapi.js";
import { ROUTES } from "../../src/api/routes.js";
import { createApiServer, registeredRoutes } from "../../src/api/server.js";
import { makeFixture, type Fixture } from "./fixture.js";

const CHECKED_IN = new URL("../../docs/openapi.json", import.meta.url);

let f: Fixture;
let app: FastifyInstance;
beforeAll(async () => {
  f = await makeFixture();
  app = await createApiServer({ db: f.db, stateDir: f.dir, rateLimit: false });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  f.cleanup();
});

type Doc = { paths: Record<string, Record<string, { "x-hv-role": string; security?: unknown[]; parameters: Array<{ name: string; in: string }> }>> };

test("docs/openapi.json is the document the route table produces", () => {
  expect(readFileSync(CHECKED_IN, "utf8"), "docs/openapi.json is stale: npm run build && node bin/hv.js api openapi > docs/openapi.json").toBe(openApiText());
});

test("every registered route is in the document, and every documented operation is registered", () => {
  const doc = buildOpenApi(ROUTES) as Doc;
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  const registered = registeredRoutes(app).map((r) => `${r.method} ${openApiPath(r.url)}`).sort();
  expect(registered.length).toBe(ROUTES.length);
  expect(registered).toEqual(documented);
});

test("the document says who may call what, and declares every path and query parameter", () => {
  const doc = buildOpenApi(ROUTES) as Doc;
  for (const r of ROUTES) {
    const op = doc.paths[openApiPath(r.path)]![r.method.toLowerCase()]!;
    expect(op["x-hv-role"]).toBe(r.access);
    if (r.access === "public") expect(op.security).toEqual([]);
    const pathParams = (r.path.match(/:([A-Za-z0-9_]+)/g) ?? []).map((p) => p.slice(1));
    expect(op.parameters.filter((p) => p.in === "path").map((p) => p.name)).toEqual(pathParams);
    expect(op.parameters.filter((p) => p.in === "query").map((p) => p.name)).toEqual(Object.keys((r.query?.properties ?? {}) as object));
  }
});

test("the served document equals the checked-in one", async () => {
  const res = await app.inject({ url: "/api/v1/openapi.json", headers: { authorization: `Bearer ${f.tokens.viewer}` } });
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual(JSON.parse(readFileSync(CHECKED_IN, "utf8")));
});
