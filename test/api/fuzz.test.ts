// Fuzzed requests against every route of the table (with an admin token, so they reach
// validation): random path parameters, query strings, bodies, content types, huge numbers,
// unicode and wrong types. Every answer must be < 500, and every error the JSON {error, message};
// the server must still answer afterwards.

import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { defaultResponseOps } from "../../src/api/response.js";
import { ROUTES, type RouteSpec } from "../../src/api/routes.js";
import { createApiServer } from "../../src/api/server.js";
import { createAgentMetrics } from "../../src/api/metrics.js";
import { fixtureResponder, makeFixture, type Fixture } from "./fixture.js";
import type { Responder } from "../../src/playbooks/engine.js";

let f: Fixture;
let responder: Responder;
let app: FastifyInstance;

beforeAll(async () => {
  f = await makeFixture();
  // The VM routes act through a response engine (on libvirt's test driver).
  responder = fixtureResponder(f);
  app = await createApiServer({
    db: f.db,
    stateDir: f.dir,
    ops: defaultResponseOps({ db: f.db, stateDir: f.dir, responder }),
    metrics: createAgentMetrics({ db: f.db, processMetrics: false }).registry,
    rateLimit: false,
  });
});
afterAll(async () => {
  await app.close();
  await responder.close();
  f.cleanup();
});

const RUNS = Number(process.env.HV_FUZZ_RUNS ?? 60);

const hugeNumber = fc.oneof(
  fc.constantFrom("0", "-1", "1e309", "9007199254740993", "99999999999999999999999999", "2147483648", "-0", "NaN", "Infinity", "0x10", "1.5", " 1", "1 ", ""),
  fc.bigInt().map(String),
  fc.double().map(String),
);
const text = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary", maxLength: 50 }), fc.constantFrom("../../etc/passwd", "'; DROP TABLE alerts; --", "%00", "\u0000", "a".repeat(5000), "vm-0", "local-iocs", "20250101T000000Z-vm-0-abcdef"));
const scalar = fc.oneof(text, hugeNumber, fc.boolean().map(String));
const queryValue = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }));

function knownKeys(schema: Record<string, unknown> | undefined): string[] {
  return Object.keys((schema?.properties ?? {}) as Record<string, unknown>);
}

function fillPath(path: string, values: string[]): string {
  let i = 0;
  return path.replace(/:[A-Za-z0-9_]+/g, () => encodeURIComponent(values[i++] ?? ""));
}

function queryString(entries: Array<[string, string | string[]]>): string {
  const q = new URLSearchParams();
  for (const [k, v] of entries) for (const one of [v].flat()) q.append(k, one);
  const s = q.toString();
  return s ? `?${s}` : "";
}

const body = fc.oneof(
  fc.constant(undefined),
  fc.anything({ maxDepth: 3 }).map((v) => ({ raw: JSON.stringify(v) ?? "null", type: "application/json" })),
  fc.dictionary(fc.constantFrom("name", "role", "reason", "extra", "__proto__", "constructor"), fc.oneof(text, fc.integer(), fc.constant(null), fc.array(fc.integer()))).map((v) => ({ raw: JSON.stringify(v), type: "application/json" })),
  text.map((raw) => ({ raw, type: "application/json" })),
  text.map((raw) => ({ raw, type: "text/plain" })),
  fc.constantFrom({ raw: "{", type: "application/json" }, { raw: "x".repeat(70_000), type: "application/json" }, { raw: "a=1", type: "application/x-www-form-urlencoded" }),
);

function isJsonError(payload: string): boolean {
  try {
    const j = JSON.parse(payload) as Record<string, unknown>;
    return typeof j.error === "string" && typeof j.message === "string";
  } catch {
    return false;
  }
}

describe.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))("%s", (_name, r: RouteSpec) => {
  const params = (r.path.match(/:[A-Za-z0-9_]+/g) ?? []).length;
  // A stream stays open for `seconds`: fuzz everything else, and end each one at once.
  const keys = knownKeys(r.query).filter((k) => !(r.stream && k === "seconds"));
  const fixed = r.stream ? "seconds=0" : "";
  const joinQuery = (q: string): string => (fixed ? (q ? `${q}&${fixed}` : `?${fixed}`) : q);

  test("fuzzed parameters, query and body: never a 5xx, errors are JSON", async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(text, hugeNumber), { minLength: params, maxLength: params }),
        fc.array(fc.tuple(keys.length > 0 ? fc.oneof(fc.constantFrom(...keys), text) : text, queryValue), { maxLength: 4 }),
        body,
        async (pathValues, query, b) => {
          const res = await app.inject({
            method: r.method,
            url: fillPath(r.path, pathValues) + joinQuery(queryString(query.filter(([k]) => !(r.stream && k === "seconds")))),
            headers: { authorization: `Bearer ${f.tokens.admin}`, ...(b ? { "content-type": b.type } : {}) },
            ...(b ? { payload: b.raw } : {}),
          });
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          expect(res.statusCode, `${r.method} ${res.raw.req.url} → ${res.body.slice(0, 200)}`).toBeLessThan(500);
          if (res.statusCode >= 400) expect(isJsonError(res.body), res.body.slice(0, 200)).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
    // Most fuzzed requests are bad input: at least some must have been refused as such.
    if (params + keys.length > 0 || r.body) expect([...statuses.keys()].some((s) => s === 400 || s === 404 || s === 413 || s === 415)).toBe(true);
  });
});

test("fuzzed Authorization headers: 401 (or the public answer), never a 5xx", async () => {
  const header = fc.oneof(fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }), fc.string({ unit: fc.constantFrom(..."abcABC_-019") }).map((s) => `Bearer hv_${s}`));
  await fc.assert(
    fc.asyncProperty(header, fc.constantFrom(...ROUTES), async (auth, r) => {
      const res = await app.inject({ method: r.method, url: r.path.replace(/:[A-Za-z0-9_]+/g, "1"), headers: { authorization: auth } });
      expect(res.statusCode).toBeLessThan(500);
      if (r.access !== "public" && r.access !== "metrics") expect(res.statusCode).toBe(401);
    }),
    { numRuns: RUNS * 5 },
  );
});

test("odd URLs: unknown routes, bad percent-encoding, wrong methods → 4xx JSON", async () => {
  const auth = { authorization: `Bearer ${f.tokens.admin}` };
  for (const url of ["/api/v1/alerts/%zz", "/api/v1/%", "/api/v2/alerts", "/api/v1/alerts?limit=%ff", `/api/v1/events?${"a=1&".repeat(2000)}`, "/api/v1/vms/%2e%2e", "//api/v1/alerts", "/api/v1/alerts?since=2024-13-45", "/api/v1/events?until=9999-99-99T99:99:99Z"]) {
    const res = await app.inject({ url, headers: auth });
    expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
    expect(res.statusCode, url).toBeLessThan(500);
    expect(isJsonError(res.body), `${url}: ${res.body.slice(0, 100)}`).toBe(true);
  }
  const wrongMethod = await app.inject({ method: "PUT", url: "/api/v1/alerts", headers: auth });
  expect(wrongMethod.statusCode).toBe(404);
});

test("the server still answers after the fuzzing", async () => {
  const res = await app.inject({ url: "/api/v1/health", headers: { authorization: `Bearer ${f.tokens.viewer}` } });
  expect(res.statusCode).toBe(200);
  expect((res.json() as { store: { events: number } }).store.events).toBe(30);
});
