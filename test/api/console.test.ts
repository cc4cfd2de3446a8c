// The web console's server side on a real store: login with a token into an HttpOnly session
// cookie, CSRF and Origin checks on changes, revocation and logout ending sessions at once, the
// security headers and the built page's files, the live stream (over TCP), the alert timeline,
// per-source counters, VM actions through a real response engine (libvirt's test driver), and
// bundle downloads recorded in the chain of custody. The browser itself: test/web/console.test.ts.

import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadAgentConfig } from "../../src/agent/config.js";
import { sessionSettings } from "../../src/api/config.js";
import { loadConsoleAssets, type ConsoleAssets } from "../../src/api/console.js";
import { createAgentMetrics } from "../../src/api/metrics.js";
import { defaultResponseOps } from "../../src/api/response.js";
import { createApiServer, startApiServer, type RunningApi } from "../../src/api/server.js";
import { SessionStore } from "../../src/api/session.js";
import { createToken, revokeToken } from "../../src/api/tokens.js";
import { readCustodyText } from "../../src/forensics/custody.js";
import type { Responder } from "../../src/playbooks/engine.js";
import { getAction, insertAction } from "../../src/store/actions.js";
import { saveAlert } from "../../src/store/alerts.js";
import { activeEnforcement } from "../../src/store/enforcements.js";
import { BASE_MS } from "../helpers/events.js";
import { alertOf, fixtureResponder, makeFixture, RULE_A, RULE_B, type Fixture } from "./fixture.js";

const HAVE_VIRSH = spawnSync("virsh", ["--version"]).status === 0;
if (!HAVE_VIRSH) {
  if (process.env.CI === "true") throw new Error("virsh is missing under CI (libvirt-clients)");
  process.stderr.write("\n*** virsh is not installed: the console's VM action tests are SKIPPED ***\n\n");
}

const assetsOrMissing = loadConsoleAssets();
if ("missing" in assetsOrMissing) throw new Error(`${assetsOrMissing.missing} — npm test builds it first`);
const assets: ConsoleAssets = assetsOrMissing;

let f: Fixture;
let app: FastifyInstance;
let responder: Responder;
let metrics: ReturnType<typeof createAgentMetrics>;

beforeAll(async () => {
  f = await makeFixture();
  metrics = createAgentMetrics({ db: f.db, processMetrics: false });
  responder = fixtureResponder(f);
  app = await createApiServer({
    db: f.db,
    stateDir: f.dir,
    ops: defaultResponseOps({ db: f.db, stateDir: f.dir, responder }),
    metrics: metrics.registry,
    rateLimit: false,
    console: assets,
  });
});
afterAll(async () => {
  await app.close();
  await responder.close();
  f.cleanup();
});

const cookieOf = (res: { headers: Record<string, unknown> }): string => {
  const set = [res.headers["set-cookie"]].flat().map(String);
  const m = /hv_session=([^;]*)/.exec(set.join("\n"));
  if (!m) throw new Error(`no hv_session cookie in ${JSON.stringify(set)}`);
  return `hv_session=${m[1]}`;
};

async function login(token: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await app.inject({ method: "POST", url: "/api/v1/session", payload: { token } });
  expect(res.statusCode, res.body).toBe(200);
  return { cookie: cookieOf(res), csrf: (res.json() as { csrf: string }).csrf, setCookie: String(res.headers["set-cookie"]) };
}

describe("login, session cookie and CSRF", () => {
  test("a wrong or revoked token is refused; no cookie is set", async () => {
    for (const token of ["hv_" + "A".repeat(43), f.tokens.revoked]) {
      const res = await app.inject({ method: "POST", url: "/api/v1/session", payload: { token } });
      expect(res.statusCode).toBe(401);
      expect(res.headers["set-cookie"]).toBeUndefined();
    }
    const malformed = await app.inject({ method: "POST", url: "/api/v1/session", payload: { token: "not a token" } });
    expect(malformed.statusCode).toBe(400);
  });

  test("a token's login sets an HttpOnly SameSite=Strict cookie and answers the role and a CSRF secret", async () => {
    const res = await app.inject({ method: "POST", url: "/api/v1/session", payload: { token: f.tokens.operator } });
    expect(res.statusCode).toBe(200);
    const set = String(res.headers["set-cookie"]);
    expect(set).toMatch(/^hv_session=[A-Za-z0-9_-]{43}; /);
    expect(set).toContain("HttpOnly");
    expect(set).toContain("SameSite=Strict");
    expect(set).toContain("Path=/");
    expect(set).not.toContain(f.tokens.operator);
    const body = res.json() as { token: { name: string; role: string }; csrf: string };
    expect(body.token).toEqual({ name: "oper", role: "operator" });
    expect(body.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const me = await app.inject({ url: "/api/v1/session", headers: { cookie: cookieOf(res) } });
    expect(me.json()).toMatchObject({ token: { role: "operator" }, csrf: body.csrf });
  });

  test("reads need only the cookie; changes need the CSRF secret too, and nothing changes without it", async () => {
    const s = await login(f.tokens.operator);
    expect((await app.inject({ url: "/api/v1/alerts", headers: { cookie: s.cookie } })).statusCode).toBe(200);
    const id = f.pendingIds[1]!;
    for (const headers of [{ cookie: s.cookie }, { cookie: s.cookie, "x-csrf-token": "x".repeat(43) }, { cookie: s.cookie, "x-csrf-token": "" }]) {
      const res = await app.inject({ method: "POST", url: `/api/v1/actions/${id}/deny`, headers, payload: {} });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: "csrf" });
    }
    expect(getAction(f.db, id)!.status).toBe("pending");
    const ok = await app.inject({ method: "POST", url: `/api/v1/actions/${id}/deny`, headers: { cookie: s.cookie, "x-csrf-token": s.csrf }, payload: { reason: "from the console" } });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(getAction(f.db, id)!).toMatchObject({ status: "denied", approvedBy: "api:oper" });
  });

  test("the cookie session has its token's role: a viewer's release is refused by the API", async () => {
    const s = await login(f.tokens.viewer);
    const res = await app.inject({ method: "POST", url: "/api/v1/quarantines/vm-0/release", headers: { cookie: s.cookie, "x-csrf-token": s.csrf }, payload: {} });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: "forbidden" });
    expect(activeEnforcement(f.db, "quarantine", "vm-0")).toBeDefined();
  });

  test("a request from another site's page (its Origin) is refused before anything else", async () => {
    const s = await login(f.tokens.admin);
    const res = await app.inject({ method: "POST", url: `/api/v1/alerts/${f.alertIds[0]}/ack`, headers: { cookie: s.cookie, "x-csrf-token": s.csrf, origin: "http://evil.example", host: "127.0.0.1:8787" } });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: "cross_origin" });
    const same = await app.inject({ method: "GET", url: "/api/v1/session", headers: { cookie: s.cookie, origin: "http://evil.example" } });
    expect(same.statusCode).toBe(200);
    const login2 = await app.inject({ method: "POST", url: "/api/v1/session", headers: { origin: "http://evil.example", host: "127.0.0.1:8787" }, payload: { token: f.tokens.admin } });
    expect(login2.statusCode).toBe(403);
  });

  test("revoking the token ends its sessions at once; logging out ends one and clears the cookie", async () => {
    const { token } = createToken(f.db, "console-user", "operator");
    const a = await login(token);
    const b = await login(token);
    const out = await app.inject({ method: "DELETE", url: "/api/v1/session", headers: { cookie: a.cookie, "x-csrf-token": a.csrf } });
    expect(out.statusCode).toBe(200);
    expect(out.json()).toEqual({ ended: true });
    expect(String(out.headers["set-cookie"])).toMatch(/^hv_session=; Max-Age=0/);
    expect((await app.inject({ url: "/api/v1/health", headers: { cookie: a.cookie } })).statusCode).toBe(401);
    expect((await app.inject({ url: "/api/v1/session", headers: { cookie: a.cookie } })).json()).toEqual({ token: null, csrf: null, expires: null });
    expect((await app.inject({ url: "/api/v1/health", headers: { cookie: b.cookie } })).statusCode).toBe(200);
    revokeToken(f.db, "console-user");
    const after = await app.inject({ url: "/api/v1/health", headers: { cookie: b.cookie } });
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ message: expect.stringMatching(/session has ended/) });
    expect((await app.inject({ url: "/api/v1/session", headers: { cookie: b.cookie } })).json()).toMatchObject({ token: null });
  });

  test("a bearer token wins over a cookie, and needs no CSRF secret", async () => {
    const s = await login(f.tokens.viewer);
    const res = await app.inject({ method: "POST", url: `/api/v1/alerts/${f.alertIds[0]}/ack`, headers: { cookie: s.cookie, authorization: `Bearer ${f.tokens.operator}` } });
    expect(res.statusCode).toBe(200);
  });
});

test("sessions end when unused for the idle time or past their lifetime, and the oldest go first beyond the cap", () => {
  const store = new SessionStore({ idleMs: 1000, maxMs: 5000, secureCookie: false });
  const a = store.start(1, 0);
  expect(store.use(a.id, 900)?.tokenId).toBe(1);
  expect(store.use(a.id, 1800)?.tokenId).toBe(1);
  expect(store.alive(a.id, 2900)).toBe(false);
  expect(store.use(a.id, 2900)).toBeUndefined();
  const b = store.start(1, 0);
  for (let t = 900; t < 5000; t += 900) expect(store.use(b.id, t)).toBeDefined();
  expect(store.use(b.id, 5001)).toBeUndefined();
  for (let i = 0; i < 1005; i++) store.start(2, 10_000);
  expect(store.size).toBe(1000);
});

describe("headers and the page's files", () => {
  test("every answer carries the CSP (scripts, styles and data from hv only) and the other security headers", async () => {
    for (const url of ["/", "/api/v1/health", "/api/v1/nothing", `/assets/${[...assets.assets.keys()][0]}`]) {
      const res = await app.inject({ url, headers: { authorization: `Bearer ${f.tokens.viewer}` } });
      const csp = String(res.headers["content-security-policy"]);
      expect(csp, url).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["x-frame-options"]).toBe("DENY");
      expect(res.headers["referrer-policy"]).toBe("no-referrer");
    }
  });

  test("/ is the built page: it loads its script, style and icon from /assets only, with no inline script or style", async () => {
    const res = await app.inject({ url: "/" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    const html = res.body;
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBe(3);
    for (const ref of refs) {
      expect(ref).toMatch(/^\/assets\/[A-Za-z0-9_-]+\.(js|css|svg)$/);
      const asset = await app.inject({ url: ref });
      expect(asset.statusCode, ref).toBe(200);
      expect(asset.headers["cache-control"]).toContain("immutable");
    }
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|style="/);
    expect(html).not.toMatch(/https?:\/\//);
    const again = await app.inject({ url: "/", headers: { "if-none-match": String(res.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect((await app.inject({ url: "/assets/nope.js" })).statusCode).toBe(404);
  });

  test("the built script loads nothing from the network", () => {
    for (const [name, file] of assets.assets) {
      if (!name.endsWith(".js") && !name.endsWith(".css")) continue;
      // No absolute URL to fetch from; the only URLs are hv's own API paths.
      expect(file.body.toString("utf8"), name).not.toMatch(/["'`(]https?:\/\/(?!www\.w3\.org\/)/);
    }
  });
});

describe("overview data", () => {
  test("the timeline counts new alerts per severity in steps from since", async () => {
    const since = new Date(BASE_MS).toISOString();
    const res = await app.inject({ url: `/api/v1/alerts/timeline?since=${since}&step=1m`, headers: { authorization: `Bearer ${f.tokens.viewer}` } });
    // BASE_MS is long ago: far more than 500 one-minute steps until now.
    expect(res.statusCode).toBe(400);
    const rows = [alertOf(1, RULE_A, "high", "vm-9", [])];
    const now = Date.now();
    for (const [i, sev] of [[0, "critical"], [0, "critical"], [0, "low"], [2, "high"]] as const) {
      const at = new Date(now - (3 - i) * 3_600_000 + 60_000).toISOString();
      saveAlert(f.db, { ...rows[0]!, severity: sev, first_seen: at, last_seen: at, "@timestamp": at });
    }
    const ok = await app.inject({ url: "/api/v1/alerts/timeline?since=4h&step=1h", headers: { authorization: `Bearer ${f.tokens.viewer}` } });
    expect(ok.statusCode, ok.body).toBe(200);
    const body = ok.json() as { stepSeconds: number; buckets: Array<{ start: string; counts: Record<string, number> }> };
    expect(body.stepSeconds).toBe(3600);
    const all = body.buckets.map((b) => b.counts);
    expect(all.flatMap((c) => Object.entries(c))).toEqual(expect.arrayContaining([["critical", 2], ["low", 1], ["high", 1]]));
    expect(all.reduce((n, c) => n + Object.values(c).reduce((a, b) => a + b, 0), 0)).toBe(4);
    for (const b of body.buckets) expect(Date.parse(b.start) % 3_600_000).toBe(0);
  });

  test("the timeline's step is an age in hv's duration grammar: weeks count, sub-second steps do not", async () => {
    const week = await app.inject({ url: "/api/v1/alerts/timeline?since=3w&step=1w", headers: { authorization: `Bearer ${f.tokens.viewer}` } });
    expect(week.statusCode, week.body).toBe(200);
    expect((week.json() as { stepSeconds: number }).stepSeconds).toBe(7 * 86_400);
    const ms = await app.inject({ url: "/api/v1/alerts/timeline?since=1h&step=500ms", headers: { authorization: `Bearer ${f.tokens.viewer}` } });
    expect(ms.statusCode).toBe(400);
  });

  test("the console's session lifetimes in the config: longer than 0, at most 366 days, in the one grammar", () => {
    const load = (console: string): ReturnType<typeof loadAgentConfig> => {
      const path = join(f.dir, "hv.yaml");
      writeFileSync(path, `api:\n  enabled: true\n  console:\n${console}`);
      return loadAgentConfig(path);
    };
    expect(sessionSettings(load("    sessionIdle: 1w\n    sessionMax: 90m\n").api?.console)).toMatchObject({ idleMs: 7 * 86_400_000, maxMs: 90 * 60_000 });
    expect(() => load("    sessionIdle: 0s\n")).toThrow(/sessionIdle/);
    expect(() => load("    sessionMax: 400d\n")).toThrow(/sessionMax/);
    expect(() => load("    sessionMax: 12 hours\n")).toThrow(/sessionMax/);
  });

  test("sources: what the pipeline counted per source, as the metrics hold it", async () => {
    metrics.eventsIn("audit", 7);
    metrics.eventsDropped("conntrack", 2);
    const res = await app.inject({ url: "/api/v1/sources", headers: { authorization: `Bearer ${f.tokens.viewer}` } });
    expect(res.json()).toMatchObject({ events: [{ source: "audit", total: 7 }], dropped: [{ source: "conntrack", total: 2 }] });
  });

  test("actions newest first on request", async () => {
    const res = await app.inject({ url: "/api/v1/actions?order=newest&limit=3", headers: { authorization: `Bearer ${f.tokens.viewer}` } });
    const ids = (res.json() as { actions: Array<{ id: number }> }).actions.map((a) => a.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(ids[0]).toBeGreaterThan(ids[2]!);
  });
});

describe.skipIf(!HAVE_VIRSH)("VM actions through the response engine", () => {
  const op = (): Record<string, string> => ({ authorization: `Bearer ${f.tokens.operator}` });

  test("pause runs pause_vm by hand: recorded with who asked, the answer is the finished row", async () => {
    const res = await app.inject({ method: "POST", url: "/api/v1/vms/test/pause", headers: op() });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ action: "pause_vm", playbook: "manual", mode: "manual", status: "done", approvedBy: "api:oper", target: "vm:test", result: "paused test" });
    // libvirt's test driver forgets between connections: the next one sees "test" running again.
    const resume = await app.inject({ method: "POST", url: "/api/v1/vms/test/resume", headers: op() });
    expect(resume.json()).toMatchObject({ action: "resume_vm", status: "done", result: "test was already running" });
  });

  test("the allowlist wins over a person in the console too", async () => {
    const res = await app.inject({ method: "POST", url: "/api/v1/vms/dc1/pause", headers: op() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: "refused", result: expect.stringMatching(/allowlist/) });
  });

  test("a forensic capture answers 202 with the running row; the row finishes on its own", async () => {
    const res = await app.inject({ method: "POST", url: "/api/v1/vms/test/forensics", headers: op(), payload: { memory: false, disk: false } });
    expect(res.statusCode, res.body).toBe(202);
    const row = res.json() as { id: number; status: string; params: Record<string, unknown> };
    expect(row).toMatchObject({ status: "running", params: { memory: false, disk: false } });
    await responder.idle();
    expect(["done", "failed"]).toContain(getAction(f.db, row.id)!.status);
    const bad = await app.inject({ method: "POST", url: "/api/v1/vms/test/forensics", headers: op(), payload: { memory: "yes" } });
    expect(bad.statusCode).toBe(400);
  });
});

test("a bundle download is its archive, recorded in the chain of custody, and leaves no temporary file", async () => {
  const viewer = await app.inject({ url: `/api/v1/forensics/bundles/${f.bundleId}/download`, headers: { authorization: `Bearer ${f.tokens.viewer}` } });
  expect(viewer.statusCode).toBe(403);
  const res = await app.inject({ url: `/api/v1/forensics/bundles/${f.bundleId}/download`, headers: { authorization: `Bearer ${f.tokens.operator}` } });
  expect(res.statusCode).toBe(200);
  expect(res.headers["content-type"]).toBe("application/gzip");
  expect(res.headers["content-disposition"]).toBe(`attachment; filename="${f.bundleId}.tar.gz"`);
  const file = join(f.dir, "download.tar.gz");
  writeFileSync(file, res.rawPayload);
  const listing = execFileSync("tar", ["-tzf", file], { encoding: "utf8" });
  expect(listing).toContain("manifest.json");
  expect(listing).toContain("domain.xml");
  expect(readCustodyText(f.bundleDir)).toMatch(/"what":"exported".*"who":"api:oper"|"who":"api:oper".*"what":"exported"/);
  // Removed once the answer is sent, asynchronously.
  const leftovers = (): string[] => readdirSync(join(f.dir, "forensics")).filter((n) => n.startsWith(".export-"));
  for (const until = Date.now() + 10_000; leftovers().length > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
  expect(leftovers()).toEqual([]);
  expect((await app.inject({ url: "/api/v1/forensics/bundles/no-such-bundle/download", headers: { authorization: `Bearer ${f.tokens.operator}` } })).statusCode).toBe(404);
});

describe("the live stream over TCP", () => {
  let api: RunningApi;
  beforeAll(async () => {
    api = await startApiServer({ db: f.db, stateDir: f.dir, port: 0, rateLimit: false, liveIntervalMs: 100 });
  });
  afterAll(async () => {
    await api?.close();
  });

  /** Reads server-sent events until `until` says stop or the deadline passes. */
  async function readEvents(url: string, headers: Record<string, string>, until: (events: Array<{ event: string; data: string }>) => boolean, act?: () => void, deadlineMs = 20_000): Promise<Array<{ event: string; data: string }>> {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), deadlineMs);
    const res = await fetch(url, { headers, signal: ctrl.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const events: Array<{ event: string; data: string }> = [];
    let buffer = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event) {
            events.push({ event, data: data ?? "" });
            if (event === "ready") act?.();
          }
        }
        if (until(events)) break;
      }
    } catch (err) {
      if (!ctrl.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
      ctrl.abort();
    }
    return events;
  }

  test("new and changed alerts and actions arrive as events", async () => {
    let alertId = 0;
    let actionId = 0;
    const events = await readEvents(
      `${api.url}/api/v1/stream`,
      { authorization: `Bearer ${f.tokens.viewer}` },
      (e) => e.some((x) => x.event === "alert" && JSON.parse(x.data).count === 2) && e.some((x) => x.event === "action"),
      () => {
        alertId = saveAlert(f.db, alertOf(50, RULE_B, "critical", "vm-live", ["evt-1"]));
        actionId = insertAction(f.db, { playbook: "pb", action: "notify", mode: "interactive", status: "pending", alertId });
        // The same alert again, counted twice: a change.
        setTimeout(() => saveAlert(f.db, { ...alertOf(50, RULE_B, "critical", "vm-live", ["evt-1"]), id: alertId, count: 2 }), 300);
      },
    );
    expect(events[0]!.event).toBe("ready");
    const alerts = events.filter((e) => e.event === "alert").map((e) => JSON.parse(e.data) as { id: number; count: number; vm: { name: string } });
    expect(alerts[0]).toMatchObject({ id: alertId, count: 1, vm: { name: "vm-live" } });
    expect(alerts.at(-1)).toMatchObject({ id: alertId, count: 2 });
    expect(events.filter((e) => e.event === "action").map((e) => JSON.parse(e.data).id)).toContain(actionId);
  });

  test("a revoked token's stream ends with an end event", async () => {
    const { token } = createToken(f.db, "streamer", "viewer");
    const events = await readEvents(`${api.url}/api/v1/stream`, { authorization: `Bearer ${token}` }, (e) => e.some((x) => x.event === "end"), () => {
      revokeToken(f.db, "streamer");
      saveAlert(f.db, alertOf(51, RULE_B, "high", "vm-live2", []));
    });
    expect(events.map((e) => e.event)).toEqual(["ready", "end"]);
  });

  test("seconds=0 sends ready and ends; a stream needs a token like everything else", async () => {
    const res = await fetch(`${api.url}/api/v1/stream?seconds=0`, { headers: { authorization: `Bearer ${f.tokens.viewer}` } });
    expect(await res.text()).toMatch(/^retry: 2000\n\nevent: ready\ndata: \{"at":"[^"]+"\}\n\n$/);
    expect((await fetch(`${api.url}/api/v1/stream?seconds=0`)).status).toBe(401);
  });

  test("closing the server ends open streams", async () => {
    const other = await startApiServer({ db: f.db, stateDir: f.dir, port: 0, rateLimit: false });
    const res = await fetch(`${other.url}/api/v1/stream`, { headers: { authorization: `Bearer ${f.tokens.viewer}` } });
    const text = res.text();
    await other.close();
    expect(await text).toContain("event: ready");
  });
});
