// Every route of the table × {no token, wrong token, revoked token, each role below its own} must
// be refused (401/403) without effect, and the route's own role must succeed. Generated from the
// route table, so no endpoint is forgotten.

import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createAgentMetrics } from "../../src/api/metrics.js";
import { defaultResponseOps } from "../../src/api/response.js";
import { ROUTES, type RouteSpec } from "../../src/api/routes.js";
import { createApiServer } from "../../src/api/server.js";
import { ROLES, type Role } from "../../src/api/tokens.js";
import { getAction } from "../../src/store/actions.js";
import { activeEnforcement } from "../../src/store/enforcements.js";
import { fixtureResponder, makeFixture, type Fixture } from "./fixture.js";
import type { Responder } from "../../src/playbooks/engine.js";
import { samples } from "./samples.js";

let f: Fixture;
let responder: Responder;
let app: FastifyInstance;
let appMetricsAuth: FastifyInstance;
let sample: ReturnType<typeof samples>;

beforeAll(async () => {
  f = await makeFixture();
  // The VM routes act through a response engine (on libvirt's test driver).
  responder = fixtureResponder(f);
  const ops = defaultResponseOps({ db: f.db, stateDir: f.dir, responder });
  const metrics = createAgentMetrics({ db: f.db, processMetrics: false }).registry;
  app = await createApiServer({ db: f.db, stateDir: f.dir, ops, metrics, rateLimit: false });
  appMetricsAuth = await createApiServer({ db: f.db, stateDir: f.dir, ops, metrics, rateLimit: false, metricsAuth: true });
  sample = samples(f);
});
afterAll(async () => {
  await app.close();
  await appMetricsAuth.close();
  await responder.close();
  f.cleanup();
});

const key = (r: RouteSpec): string => `${r.method} ${r.path}`;
const neededRole = (r: RouteSpec): Role => (r.access === "public" || r.access === "metrics" ? "viewer" : r.access);
const WRONG = "hv_" + "A".repeat(43);

async function call(server: FastifyInstance, r: RouteSpec, authorization?: string): Promise<{ status: number; body: string; json: Record<string, unknown> | undefined }> {
  const s = sample[key(r)]!();
  const res = await server.inject({
    method: r.method,
    url: s.url,
    headers: authorization === undefined ? {} : { authorization },
    ...(s.body ? { payload: s.body } : {}),
  });
  let json: Record<string, unknown> | undefined;
  try {
    json = res.json();
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, body: res.body, json };
}

test("every route of the table has a sample request, and every sample a route", () => {
  expect(ROUTES.map(key).sort()).toEqual(Object.keys(samples(f)).sort());
});

const guarded = ROUTES.filter((r) => r.access !== "public");

describe.each(guarded.map((r) => [key(r), r] as const))("%s", (_name, r) => {
  const server = (): FastifyInstance => (r.access === "metrics" ? appMetricsAuth : app);

  test("no token → 401 with a JSON error and a WWW-Authenticate challenge", async () => {
    const res = await call(server(), r);
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ error: "unauthorized" });
  });

  test("malformed, unknown and revoked tokens → 401", async () => {
    for (const auth of [`Bearer ${WRONG}`, "Bearer not-a-token", `Basic ${Buffer.from("a:b").toString("base64")}`, `Bearer ${f.tokens.revoked}`, f.tokens.admin]) {
      const res = await call(server(), r, auth);
      expect(res.status, auth).toBe(401);
      expect(res.json?.error).toBe("unauthorized");
    }
  });

  test("roles below the route's → 403", async () => {
    const below = ROLES.slice(0, ROLES.indexOf(neededRole(r)));
    for (const role of below) {
      const res = await call(server(), r, `Bearer ${f.tokens[role]}`);
      expect(res.status, role).toBe(403);
      expect(res.json).toMatchObject({ error: "forbidden" });
    }
  });

  test(`the ${neededRole(r)} role → 2xx`, async () => {
    const res = await call(server(), r, `Bearer ${f.tokens[neededRole(r)]}`);
    expect(res.status, res.body.slice(0, 300)).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
  });
});

test("refused requests changed nothing; the allowed ones did", () => {
  // pendingIds[0..1] were never sampled; 2 was approved, 4 denied by the 2xx requests.
  expect(getAction(f.db, f.pendingIds[0]!)!.status).toBe("pending");
  expect(getAction(f.db, f.pendingIds[2]!)!.status).toBe("approved");
  expect(getAction(f.db, f.pendingIds[2]!)!.approvedBy).toBe("api:oper");
  expect(getAction(f.db, f.pendingIds[4]!)!.status).toBe("denied");
  expect(activeEnforcement(f.db, "quarantine", "vm-0")).toBeDefined();
  expect(activeEnforcement(f.db, "quarantine", "vm-2")).toBeUndefined();
});

test("public /healthz answers without a token and tells nothing else", async () => {
  const res = await app.inject({ url: "/healthz" });
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({ status: "ok" });
});

test("/metrics without metrics auth needs no token", async () => {
  const res = await app.inject({ url: "/metrics" });
  expect(res.statusCode).toBe(200);
  expect(res.headers["content-type"]).toMatch(/^text\/plain/);
  expect(res.body).toContain("hv_feed_entries{feed=\"local-iocs\"} 3");
});

test("a token revoked through the API is refused at once", async () => {
  const made = await app.inject({ method: "POST", url: "/api/v1/tokens", headers: { authorization: `Bearer ${f.tokens.admin}` }, payload: { name: "short-lived", role: "operator" } });
  expect(made.statusCode).toBe(201);
  const secret = (made.json() as { token: string }).token;
  expect(secret).toMatch(/^hv_[A-Za-z0-9_-]{43}$/);
  expect((await app.inject({ url: "/api/v1/health", headers: { authorization: `Bearer ${secret}` } })).statusCode).toBe(200);
  const again = await app.inject({ method: "POST", url: "/api/v1/tokens", headers: { authorization: `Bearer ${f.tokens.admin}` }, payload: { name: "short-lived", role: "viewer" } });
  expect(again.statusCode).toBe(409);
  expect((await app.inject({ method: "DELETE", url: "/api/v1/tokens/short-lived", headers: { authorization: `Bearer ${f.tokens.admin}` } })).statusCode).toBe(200);
  expect((await app.inject({ url: "/api/v1/health", headers: { authorization: `Bearer ${secret}` } })).statusCode).toBe(401);
  // The listing never carries a secret or its hash.
  const list = await app.inject({ url: "/api/v1/tokens", headers: { authorization: `Bearer ${f.tokens.admin}` } });
  expect(list.body).not.toContain(secret);
  expect(list.body).not.toMatch(/sha256|[0-9a-f]{64}/);
});
