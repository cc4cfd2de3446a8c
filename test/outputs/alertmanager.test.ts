// The Alertmanager sink against a real Prometheus Alertmanager (Debian's prometheus-alertmanager),
// started by test/helpers/alertmanager.ts on a free loopback port. Alertmanager's notifications go
// to a webhook receiver run here, which shows what it would tell people (firing, then resolved).

import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Alert } from "../../src/events/alert.js";
import { AlertmanagerSink, alertLabels, toPostableAlert, type PostableAlert } from "../../src/outputs/alertmanager.js";
import { startAlertmanager, whyNoAlertmanager, type RunningAlertmanager } from "../helpers/alertmanager.js";
import { makeAlert, until } from "./alerts.js";
import { closedPort, startHttpServer, type TestServer } from "./http-server.js";

const inCI = process.env.CI === "true";
const unavailable = whyNoAlertmanager();
if (unavailable) console.warn(`\n*** Alertmanager integration test ${inCI ? "FAILS (CI=true)" : "SKIPPED"}: ${unavailable} ***\n`);

/** An alert with its own rule, so tests sharing one Alertmanager do not see each other's alerts. */
function freshAlert(overrides: Partial<Alert> = {}): Alert {
  const id = randomUUID();
  return makeAlert({ rule: { id, title: `Test rule ${id.slice(0, 8)}`, source: "sigma", description: "a test rule" }, ...overrides });
}

describe("alert mapping", () => {
  it("keeps labels low-cardinality and puts what changes into annotations", () => {
    const alert = makeAlert({ id: 12 });
    const labels = alertLabels(alert);
    expect(labels).toEqual({
      alertname: "Reverse shell from a guest",
      severity: "high",
      rule_id: alert.rule.id,
      detector: "sigma",
      host: "host-a",
      vm: "web-1",
      entity_kind: "vm",
      entity: "web-1",
    });
    // An update of the same alert (more events, later) has the same identity.
    expect(alertLabels(makeAlert({ id: 12, count: 9, event_ids: ["evt-9"], last_seen: "2025-01-02T00:00:00.000Z" }))).toEqual(labels);
    const postable = toPostableAlert(alert, new Date("2030-01-01T00:00:00Z"), "https://hv.example/");
    expect(postable.annotations).toMatchObject({ event_ids: "evt-1,evt-2,evt-3", mitre: "execution, T1059.004", count: "3", alert_id: "12" });
    expect(postable).toMatchObject({ startsAt: "2025-01-01T00:00:00.000Z", endsAt: "2030-01-01T00:00:00.000Z", generatorURL: "https://hv.example/alerts/12" });
  });

  it("batches a burst into one request", async () => {
    const rx = await startHttpServer();
    const sink = new AlertmanagerSink({ url: `${rx.url}/prefix` });
    for (let i = 0; i < 10; i++) await sink.send(makeAlert({ entity: { kind: "ip", id: `203.0.113.${i}` } }));
    await sink.flush();
    await sink.close();
    await rx.close();
    expect(rx.received).toHaveLength(1);
    expect(rx.received[0]?.url).toBe("/prefix/api/v2/alerts");
    expect((rx.received[0]?.body as PostableAlert[]).map((a) => a.labels.entity)).toEqual([...Array(10).keys()].map((i) => `203.0.113.${i}`));
  });

  it("counts failures when Alertmanager is unreachable", async () => {
    const s = new AlertmanagerSink({ url: `http://127.0.0.1:${await closedPort()}`, delivery: { retries: 1, backoffMs: 10 } });
    await s.send(freshAlert());
    await s.flush();
    await s.close();
    expect(s.stats()).toMatchObject({ sent: 0, failed: 1, dropped: 0 });
    expect(s.stats().lastError).toMatch(/ECONNREFUSED/);
  });
});

describe.skipIf(unavailable !== undefined && !inCI)("real Alertmanager", () => {
  let am: RunningAlertmanager;
  let notifications: TestServer;
  const sinks: AlertmanagerSink[] = [];

  beforeAll(async () => {
    if (unavailable) throw new Error(`Alertmanager is required in CI: ${unavailable}`);
    notifications = await startHttpServer();
    am = await startAlertmanager({ webhookUrl: `${notifications.url}/notify` });
  });
  afterAll(async () => {
    await am?.stop();
    await notifications?.close();
  });
  afterEach(async () => {
    for (const s of sinks.splice(0)) await s.close();
  });

  function sink(opts: Partial<ConstructorParameters<typeof AlertmanagerSink>[0]> = {}): AlertmanagerSink {
    const s = new AlertmanagerSink({ url: am.url, generatorUrl: "http://127.0.0.1:9/hv", ...opts });
    sinks.push(s);
    return s;
  }

  interface GettableAlert extends PostableAlert {
    fingerprint: string;
    updatedAt: string;
    status: { state: string; silencedBy: string[] };
  }

  async function alertsFor(ruleId: string, query = ""): Promise<GettableAlert[]> {
    const filter = encodeURIComponent(`rule_id="${ruleId}"`);
    const res = await fetch(`${am.url}/api/v2/alerts?filter=${filter}${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as GettableAlert[];
  }

  async function waitForAlerts(ruleId: string, n: number, query = ""): Promise<GettableAlert[]> {
    let got: GettableAlert[] = [];
    const deadline = Date.now() + 5000;
    while ((got = await alertsFor(ruleId, query)).length !== n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} alerts for ${ruleId}${query}, Alertmanager has ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return got;
  }

  it("delivers labels and annotations", async () => {
    const s = sink();
    const alert = freshAlert({ id: 5 });
    await s.send(alert);
    await s.flush();
    expect(s.stats()).toEqual({ sent: 1, failed: 0, dropped: 0, queued: 0, errors: 0 });
    const [got] = await waitForAlerts(alert.rule.id, 1);
    expect(got?.labels).toEqual(alertLabels(alert));
    expect(Object.values(got?.labels ?? {})).not.toContain("evt-1");
    expect(got?.annotations).toMatchObject({
      summary: `${alert.rule.title}: ${alert.summary}`,
      description: "a test rule",
      event_ids: "evt-1,evt-2,evt-3",
      mitre: "execution, T1059.004",
      count: "3",
    });
    expect(got?.generatorURL).toBe("http://127.0.0.1:9/hv/alerts/5");
    expect(got?.startsAt).toBe(alert.first_seen);
    expect(Date.parse(got?.endsAt ?? "")).toBeGreaterThan(Date.now());
    expect(got?.status.state).toBe("active");
  });

  it("keeps one alert when the same alert is sent again, and resends it periodically", async () => {
    const s = sink({ resendIntervalMs: 300 });
    const alert = freshAlert();
    await s.send(alert);
    await s.send({ ...alert, count: 4, event_ids: ["evt-4"] });
    await s.flush();
    const [first] = await waitForAlerts(alert.rule.id, 1);
    expect(first?.annotations).toMatchObject({ count: "4", event_ids: "evt-4" });
    // Nothing new is sent, yet Alertmanager hears of the alert again: the periodic resend.
    const deadline = Date.now() + 5000;
    let again = first;
    while (again?.updatedAt === first?.updatedAt && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      [again] = await alertsFor(alert.rule.id);
    }
    expect(again?.updatedAt).not.toBe(first?.updatedAt);
    expect(await alertsFor(alert.rule.id)).toHaveLength(1);
    expect(again?.fingerprint).toBe(first?.fingerprint);
    expect(s.activeCount()).toBe(1);
  });

  it("leaves silencing to Alertmanager: a silence created through its API suppresses the alert", async () => {
    const s = sink();
    const alert = freshAlert();
    await s.send(alert);
    await s.flush();
    await waitForAlerts(alert.rule.id, 1);
    const res = await fetch(`${am.url}/api/v2/silences`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        matchers: [{ name: "rule_id", value: alert.rule.id, isRegex: false, isEqual: true }],
        startsAt: new Date().toISOString(),
        endsAt: new Date(Date.now() + 3600_000).toISOString(),
        createdBy: "hv tests",
        comment: "maintenance of web-1",
      }),
    });
    expect(res.status).toBe(200);
    const { silenceID } = (await res.json()) as { silenceID: string };
    const [silenced] = await waitForAlerts(alert.rule.id, 1, "&silenced=true&active=false");
    expect(silenced?.status).toMatchObject({ state: "suppressed", silencedBy: [silenceID] });
    expect(await alertsFor(alert.rule.id, "&silenced=false")).toEqual([]);
  });

  it("resolve() sets endsAt: the alert leaves the active list and Alertmanager notifies 'resolved'", async () => {
    const s = sink();
    const alert = freshAlert();
    const acked = freshAlert();
    await s.send(alert);
    await s.send(acked);
    await s.flush();
    await waitForAlerts(alert.rule.id, 1);
    await waitForAlerts(acked.rule.id, 1);
    const notified = (rule: Alert, status: string): boolean =>
      notifications.received.some((r) => {
        const body = r.body as { status: string; alerts: Array<{ status: string; labels: Record<string, string>; endsAt: string }> };
        return body.alerts.some((a) => a.status === status && a.labels.rule_id === rule.rule.id);
      });
    await until(() => notified(alert, "firing"), 10_000, "a 'firing' notification");

    const before = Date.now();
    await s.resolve(alert);
    await s.send({ ...acked, status: "acked" });
    await s.flush();
    expect(s.stats()).toMatchObject({ sent: 4, failed: 0, dropped: 0 });
    expect(s.activeCount()).toBe(0);
    await waitForAlerts(alert.rule.id, 0);
    await waitForAlerts(acked.rule.id, 0);

    await until(() => notified(alert, "resolved") && notified(acked, "resolved"), 10_000, "'resolved' notifications");
    const resolved = notifications.received
      .flatMap((r) => (r.body as { alerts: Array<{ status: string; labels: Record<string, string>; endsAt: string }> }).alerts)
      .find((a) => a.status === "resolved" && a.labels.rule_id === alert.rule.id);
    const endsAt = Date.parse(resolved?.endsAt ?? "");
    expect(endsAt).toBeGreaterThanOrEqual(before - 1000);
    expect(endsAt).toBeLessThanOrEqual(Date.now());
  });
});
