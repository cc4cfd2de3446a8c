// A real Prometheus (Debian's) scrapes hv's /metrics on 127.0.0.1 every second; the test then asks
// Prometheus' own query API for values the test caused. Skips loudly without prometheus; fails
// instead under CI=true.

import { afterAll, beforeAll, expect, test } from "vitest";
import { createAgentMetrics } from "../../src/api/metrics.js";
import { startApiServer, type RunningApi } from "../../src/api/server.js";
import { makeFixture, type Fixture } from "./fixture.js";
import { prometheusSkipReason, startPrometheus, type Prometheus } from "../helpers/prometheus.js";

const skip = prometheusSkipReason();

let f: Fixture;
let api: RunningApi;
let metrics: ReturnType<typeof createAgentMetrics>;
let prom: Prometheus | undefined;

beforeAll(async () => {
  if (skip) return;
  f = await makeFixture();
  metrics = createAgentMetrics({ db: f.db });
  metrics.eventsIn("audit", 42);
  metrics.alert({ severity: "critical", rule: { id: "prom-test-rule", title: "t", source: "sigma" } }, true);
  metrics.action("quarantine_vm", "done");
  metrics.modelScore("syscalls", 3.3);
  api = await startApiServer({ db: f.db, stateDir: f.dir, port: 0, metrics: metrics.registry });
  prom = await startPrometheus({ targets: [api.url.replace("http://", "")] });
}, 60_000);

afterAll(async () => {
  await prom?.stop();
  await api?.close();
  f?.cleanup();
});

test.skipIf(skip !== undefined)("a real Prometheus scrapes /metrics and sees what the test caused", async () => {
  const query = (expr: string): Promise<number> => prom!.waitForSample(expr);
  expect(await query('up{job="hv"} == 1')).toBe(1);
  expect(await query('hv_events_total{source="audit"}')).toBe(42);
  expect(await query('hv_alerts_total{severity="critical",rule="prom-test-rule"}')).toBe(1);
  expect(await query('hv_actions_total{action="quarantine_vm",result="done"}')).toBe(1);
  expect(await query('hv_model_score_count{model="syscalls"}')).toBe(1);
  expect(await query('hv_feed_entries{feed="local-iocs"}')).toBe(3);
  expect(await query("hv_quarantines_active")).toBe(2);
  expect(await query('process_resident_memory_bytes{job="hv"}')).toBeGreaterThan(1_000_000);
  // A change made now shows up in a later scrape.
  metrics.eventsIn("flow", 5);
  expect(await query('hv_events_total{source="flow"}')).toBe(5);
}, 120_000);
