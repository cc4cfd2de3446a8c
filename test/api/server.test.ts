// A real listening server on 127.0.0.1: requests over TCP, rate limiting per token and per
// address, the refusal to listen off loopback without a token, and the token CLI commands.

import { Command } from "commander";
import { afterAll, afterEach, beforeAll, expect, test, vi } from "vitest";
import { registerApi } from "../../src/cli/api.js";
import { isLoopback, startApiServer, type RunningApi } from "../../src/api/server.js";
import { authenticate, getToken, hashToken } from "../../src/api/tokens.js";
import { listAlerts, saveAlert } from "../../src/store/alerts.js";
import { openStore } from "../../src/store/open.js";
import { join } from "node:path";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { makeFixture, type Fixture } from "./fixture.js";
import { createAgentMetrics } from "../../src/api/metrics.js";

let f: Fixture;
const running: RunningApi[] = [];
beforeAll(async () => {
  f = await makeFixture();
});
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
});
afterAll(() => f.cleanup());

test("serves over TCP on 127.0.0.1: alerts filtered by severity, 401 without a token", async () => {
  const api = await startApiServer({ db: f.db, stateDir: f.dir, port: 0 });
  running.push(api);
  expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const open = await fetch(`${api.url}/api/v1/alerts`);
  expect(open.status).toBe(401);
  expect(open.headers.get("www-authenticate")).toContain("Bearer");
  const res = await fetch(`${api.url}/api/v1/alerts?severity=critical`, { headers: { authorization: `Bearer ${f.tokens.viewer}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { alerts: Array<{ severity: string; rule: { id: string } }> };
  expect(body.alerts.map((a) => a.severity)).toEqual(["critical"]);
  // The health answer names the caller; last_used is recorded.
  const health = (await (await fetch(`${api.url}/api/v1/health`, { headers: { authorization: `Bearer ${f.tokens.viewer}` } })).json()) as { token: { name: string } };
  expect(health.token.name).toBe("view");
  expect(getToken(f.db, "view")!.lastUsed).not.toBeNull();
});

test("signals: left out of the alert list unless asked for (signals=include|only); a bad value is a 400", async () => {
  const api = await startApiServer({ db: f.db, stateDir: f.dir, port: 0 });
  running.push(api);
  const stored = listAlerts(f.db, { signals: "include" })[0]!;
  const id = saveAlert(f.db, { ...stored, id: undefined, rule: { ...stored.rule, id: "quiet-rule" }, severity: "low", signal: true });
  try {
    const get = async (q: string): Promise<{ status: number; ids: number[] }> => {
      const res = await fetch(`${api.url}/api/v1/alerts${q}`, { headers: { authorization: `Bearer ${f.tokens.viewer}` } });
      const body = (await res.json()) as { alerts?: Array<{ id: number }> };
      return { status: res.status, ids: (body.alerts ?? []).map((a) => a.id) };
    };
    expect((await get("")).ids).not.toContain(id);
    expect((await get("?signals=include")).ids).toContain(id);
    expect((await get("?signals=only")).ids).toEqual([id]);
    expect((await get("?signals=maybe")).status).toBe(400);
  } finally {
    f.db.prepare("DELETE FROM alerts WHERE id = ?").run(id);
  }
});

test("rate limit: the 4th request in the window gets 429, per token; other callers are not affected", async () => {
  const api = await startApiServer({ db: f.db, stateDir: f.dir, port: 0, rateLimit: { max: 3, windowMs: 60_000 } });
  running.push(api);
  const get = (token?: string): Promise<Response> => fetch(`${api.url}/api/v1/feeds`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await get(f.tokens.operator)).status);
  expect(statuses).toEqual([200, 200, 200, 429]);
  const limited = await get(f.tokens.operator);
  expect(await limited.json()).toMatchObject({ error: "rate_limited" });
  expect((await get(f.tokens.admin)).status).toBe(200);
  // Without a valid token the bucket is the address: guessing is limited as well.
  const guesses = [];
  for (let i = 0; i < 4; i++) guesses.push((await get(`hv_${String(i).repeat(43)}`)).status);
  expect(guesses).toEqual([401, 401, 401, 429]);
});

test("rate limit: a flood without a token from 127.0.0.1 locks out neither local /healthz and /metrics nor a token; the 429 names the real window", async () => {
  const metrics = createAgentMetrics({ db: f.db, processMetrics: false }).registry;
  const api = await startApiServer({ db: f.db, stateDir: f.dir, port: 0, metrics, rateLimit: { max: 5, windowMs: 10_000 } });
  running.push(api);
  // An unauthenticated flood, far past the limit: 401s, then 429s.
  const flood = await Promise.all(Array.from({ length: 40 }, () => fetch(`${api.url}/api/v1/alerts`).then((r) => r.status)));
  expect(flood.filter((st) => st === 429).length).toBeGreaterThanOrEqual(35);
  const limited = await fetch(`${api.url}/api/v1/alerts`);
  expect(limited.status).toBe(429);
  const body = (await limited.json()) as { error: string; message: string };
  expect(body.error).toBe("rate_limited");
  expect(body.message).toMatch(/^rate limit of 5 requests per 10 seconds exceeded for requests without a valid token from 127\.0\.0\.1; retry in /);
  // Local monitoring goes on, however often it asks.
  for (let i = 0; i < 20; i++) {
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${api.url}/metrics`)).status).toBe(200);
  }
  // A token has its own bucket: the flood did not use it up.
  expect((await fetch(`${api.url}/api/v1/alerts`, { headers: { authorization: `Bearer ${f.tokens.viewer}` } })).status).toBe(200);
});

test("refuses a non-loopback address while no token exists, and says why", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hv-api-empty-"));
  const db = openStore(join(dir, "hv.db"));
  try {
    // The refusal happens before any socket is opened.
    await expect(startApiServer({ db, stateDir: dir, host: "0.0.0.0", port: 0 })).rejects.toThrow(/not a loopback address and no API token exists.*hv api token create/);
    await expect(startApiServer({ db, stateDir: dir, host: "10.0.0.1", port: 0 })).rejects.toThrow(/refusing to listen on 10\.0\.0\.1/);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("loopback detection", () => {
  for (const h of ["127.0.0.1", "127.3.2.1", "::1", "localhost"]) expect(isLoopback(h), h).toBe(true);
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "192.0.2.1", "example.org", "128.0.0.1"]) expect(isLoopback(h), h).toBe(false);
});

test("hv api token create prints the secret once; only its SHA-256 is stored; list and revoke", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hv-api-cli-"));
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, "write").mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
    out.push(String(chunk));
    const done = rest.find((r) => typeof r === "function") as (() => void) | undefined;
    done?.();
    return true;
  }) as typeof process.stdout.write);
  const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  const run = async (...args: string[]): Promise<string> => {
    out.length = 0;
    const program = new Command().exitOverride();
    registerApi(program);
    await program.parseAsync(["node", "hv", "api", "token", ...args, "--state-dir", dir]);
    return out.join("");
  };
  try {
    const created = JSON.parse(await run("create", "grafana", "--role", "viewer", "--json")) as { token: string; role: string };
    expect(created.role).toBe("viewer");
    expect(created.token).toMatch(/^hv_[A-Za-z0-9_-]{43}$/);
    await expect(run("create", "bad", "--role", "root")).rejects.toThrow(/--role must be one of viewer, operator, admin/);
    const listed = await run("list", "--json");
    expect(listed).not.toContain(created.token);
    expect(JSON.parse(listed.trim())).toMatchObject({ name: "grafana", role: "viewer", revoked: null });
    const db = openStore(join(dir, "hv.db"));
    const row = db.prepare("SELECT sha256 FROM api_tokens WHERE name = 'grafana'").get() as { sha256: string };
    expect(row.sha256).toBe(hashToken(created.token));
    expect(JSON.stringify(db.prepare("SELECT * FROM api_tokens").all())).not.toContain(created.token);
    expect(authenticate(db, created.token)?.name).toBe("grafana");
    expect(await run("revoke", "grafana")).toContain("token grafana revoked");
    expect(authenticate(db, created.token)).toBeUndefined();
    await expect(run("revoke", "grafana")).rejects.toThrow(/no active token named grafana/);
    db.close();
  } finally {
    write.mockRestore();
    err.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("forensics through the API: list, show, verify; a changed byte makes verify fail and name the file; paths are not ids", async () => {
  const api = await startApiServer({ db: f.db, stateDir: f.dir, port: 0 });
  running.push(api);
  const auth = { authorization: `Bearer ${f.tokens.operator}` };
  const list = (await (await fetch(`${api.url}/api/v1/forensics/bundles`, { headers: auth })).json()) as { bundles: Array<{ id: string; vm: string; artifacts: number }> };
  expect(list.bundles).toEqual([expect.objectContaining({ id: f.bundleId, vm: "vm-0", artifacts: 2 })]);
  const good = (await (await fetch(`${api.url}/api/v1/forensics/bundles/${f.bundleId}/verify`, { method: "POST", headers: auth })).json()) as { ok: boolean; problems: unknown[] };
  expect(good).toMatchObject({ ok: true, problems: [] });
  const xml = join(f.bundleDir, "domain.xml");
  const original = readFileSync(xml);
  writeFileSync(xml, Buffer.from(original.toString().replace("vm-0", "vm-9")));
  try {
    const bad = (await (await fetch(`${api.url}/api/v1/forensics/bundles/${f.bundleId}/verify`, { method: "POST", headers: auth })).json()) as { ok: boolean; problems: Array<{ file: string }> };
    expect(bad.ok).toBe(false);
    expect(bad.problems.map((p) => p.file)).toContain("domain.xml");
  } finally {
    writeFileSync(xml, original);
  }
  const shown = (await (await fetch(`${api.url}/api/v1/forensics/bundles/${f.bundleId}`, { headers: auth })).json()) as { custody: Array<{ who: string; what: string }> };
  // Every look is in the chain of custody, with the API token's name.
  expect(shown.custody.map((c) => `${c.what} ${c.who}`)).toEqual(expect.arrayContaining(["captured user:test", "verified api:oper"]));
  for (const id of ["..", "%2Fetc", "tmp", "forensics"]) {
    const r = await fetch(`${api.url}/api/v1/forensics/bundles/${id}`, { headers: auth });
    expect([400, 404], id).toContain(r.status);
  }
});

test("a number that is not finite (Infinity, 1e309) is a 400 naming the field, never a 500: ajv coerces it and skips maximum", async () => {
  const api = await startApiServer({ db: f.db, stateDir: f.dir, port: 0 });
  running.push(api);
  const auth = { authorization: `Bearer ${f.tokens.viewer}` };
  for (const [path, field] of [["/api/v1/alerts?limit=Infinity", "querystring field limit"], ["/api/v1/alerts?limit=1e309", "querystring field limit"], ["/api/v1/alerts?limit=-Infinity", "querystring field limit"], ["/api/v1/alerts/Infinity", "params field id"]] as const) {
    const res = await fetch(`${api.url}${path}`, { headers: auth });
    expect(res.status, path).toBe(400);
    expect(await res.json(), path).toEqual({ error: "bad_request", message: `${field}: must be a finite number` });
  }
  expect((await fetch(`${api.url}/api/v1/alerts?limit=2`, { headers: auth })).status).toBe(200);
});
