// A real Prometheus (Debian's) scrapes hv's /metrics on 127.0.0.1 every second; the test then asks
// Prometheus' own query API for values the test caused. Skips loudly without prometheus; fails
// instead under CI=true.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createAgentMetrics } from "../../src/api/metrics.js";
import { startApiServer, type RunningApi } from "../../src/api/server.js";
import { makeFixture, type Fixture } from "./fixture.js";
import { freePort } from "../helpers/ports.js";

const HAVE = spawnSync("prometheus", ["--version"]).status === 0;
if (!HAVE) {
  const why = "prometheus is not installed (apt-get install -y prometheus): the real-Prometheus scrape test is SKIPPED";
  if (process.env.CI === "true") throw new Error(why);
  process.stderr.write(`\n*** ${why} ***\n\n`);
}

let f: Fixture;
let api: RunningApi;
let metrics: ReturnType<typeof createAgentMetrics>;
let prom: ChildProcess | undefined;
let promDir = "";
let promUrl = "";
let promLog = "";


beforeAll(async () => {
  if (!HAVE) return;
  f = await makeFixture();
  metrics = createAgentMetrics({ db: f.db });
  metrics.eventsIn("audit", 42);
  metrics.alert({ severity: "critical", rule: { id: "prom-test-rule", title: "t", source: "sigma" } }, true);
  metrics.action("quarantine_vm", "done");
  metrics.modelScore("syscalls", 3.3);
  api = await startApiServer({ db: f.db, stateDir: f.dir, port: 0, metrics: metrics.registry });
  promDir = mkdtempSync(join(tmpdir(), "hv-prom-"));
  const target = api.url.replace("http://", "");
  writeFileSync(
    join(promDir, "prometheus.yml"),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: hv\n    metrics_path: /metrics\n    static_configs:\n      - targets: ["${target}"]\n`,
  );
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prom = spawn("prometheus", [`--config.file=${join(promDir, "prometheus.yml")}`, `--storage.tsdb.path=${join(promDir, "data")}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ["ignore", "ignore", "pipe"] });
  prom.stderr!.on("data", (d: Buffer) => (promLog = (promLog + d.toString()).slice(-4000)));
}, 60_000);

afterAll(async () => {
  if (prom && prom.exitCode === null) {
    prom.kill("SIGTERM");
    await new Promise((r) => prom!.once("exit", r));
  }
  await api?.close();
  f?.cleanup();
  if (promDir) rmSync(promDir, { recursive: true, force: true });
});

/** Polls Prometheus' instant query API until the query has a sample (or the deadline passes). */
async function query(expr: string, deadlineMs = 45_000): Promise<number> {
  const until = Date.now() + deadlineMs;
  let last = "";
  while (Date.now() < until) {
    try {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
      last = await res.text();
      const body = JSON.parse(last) as { status: string; data: { result: Array<{ value: [number, string] }> } };
      if (body.status === "success" && body.data.result.length > 0) return Number(body.data.result[0]!.value[1]);
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`Prometheus has no sample for ${expr} after ${deadlineMs} ms; last answer ${last.slice(0, 300)}\nprometheus log tail:\n${promLog}`);
}

test.skipIf(!HAVE)("a real Prometheus scrapes /metrics and sees what the test caused", async () => {
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
