// The Grafana dashboard and the Prometheus alerting rules in monitoring/ against the real thing:
// `promtool check rules` and `promtool test rules` (each alert fires on the series that should fire
// it, and only then), then a real Prometheus scraping a real hv — `hv monitor` following an audit
// log with real recorded attacks, its shipped playbooks, a synced feed and the shipped anomaly
// model — evaluates every rule without error, and every query of the dashboard returns series.
// Finally hv is stopped and HvAgentDown goes pending.
// Needs the lock: flock /tmp/hv-system.lock npx vitest run test/monitoring

import { execFile } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { syncFeed } from "../../src/feeds/sync.js";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import { addFeed } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { startHvAgent, waitUntil, type HvAgent } from "../helpers/hv-agent.js";
import { prometheusSkipReason, startPrometheus, type Prometheus } from "../helpers/prometheus.js";

const run = promisify(execFile);
const ROOT = new URL("../../", import.meta.url).pathname;
const RULES = join(ROOT, "monitoring", "hv-rules.yml");
const RULE_TESTS = join(ROOT, "monitoring", "hv-rules.test.yml");
const DASHBOARD = join(ROOT, "monitoring", "hv-grafana.json");
const MODEL = join(ROOT, "models", "syscalls-adfa.onnx");
const RECORDINGS = ["audit_disable.log", "ptrace_qemu.log", "kmod_load.log"].map((f) => readFileSync(new URL(`../fixtures/audit/hv/${f}`, import.meta.url), "utf8"));

const skip = prometheusSkipReason();

interface Panel {
  type: string;
  title: string;
  id: number;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: { uid: string };
  targets?: Array<{ expr: string; refId: string; datasource?: { uid: string } }>;
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; definition?: string }> };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const ruleExprs = (parse(readFileSync(RULES, "utf8")) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }).groups.flatMap((g) => g.rules);

/** The query as Grafana sends it for job "hv", every host, a 1-minute rate interval and a 5-minute range. */
function asGrafanaSends(expr: string): string {
  return expr.replaceAll("$__rate_interval", "1m").replaceAll("$__range", "5m").replaceAll("$job", "hv").replaceAll("$instance", ".+");
}

describe("monitoring/ files", () => {
  test("the dashboard is well formed: unique panel ids, every query on the datasource variable, variables from hv's own metrics", () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(queries.length).toBeGreaterThanOrEqual(20);
    for (const p of dashboard.panels) {
      expect(p.gridPos, p.title).toBeDefined();
      if (p.type === "row") continue;
      expect(p.datasource?.uid, p.title).toBe("${datasource}");
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.expr, p.title).toMatch(/instance=~"\$instance"/);
    }
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(["datasource", "job", "instance"]);
    // Every area the issue names has a panel.
    const all = queries.map((q) => q.expr).join("\n");
    for (const metric of ["hv_events_total", "hv_events_dropped_total", "hv_detector_seconds_bucket", "hv_alerts_total", "hv_actions_total", "hv_feed_entries", "hv_feed_last_success_timestamp_seconds", "hv_model_score_bucket", "process_resident_memory_bytes"]) {
      expect(all, metric).toContain(metric);
    }
  });

  test.skipIf(skip !== undefined)("promtool check rules: the rules load", async () => {
    const { stdout } = await run("promtool", ["check", "rules", RULES]);
    expect(stdout).toContain(`SUCCESS: ${ruleExprs.length} rules found`);
    expect(ruleExprs.map((r) => r.alert)).toEqual(expect.arrayContaining(["HvAgentDown", "HvEventsDropped", "HvAuditEventsLost", "HvFeedStale"]));
  });

  test.skipIf(skip !== undefined)("promtool test rules: each alert fires when it should and not otherwise", async () => {
    const { stdout } = await run("promtool", ["test", "rules", RULE_TESTS], { cwd: join(ROOT, "monitoring") });
    expect(stdout).toContain("SUCCESS");
  });

  test.skipIf(skip !== undefined)("promtool test rules fails on a broken rule (the check can fail)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hv-rules-"));
    try {
      writeFileSync(join(dir, "hv-rules.yml"), readFileSync(RULES, "utf8").replace('up{job="hv"} == 0', 'up{job="hv"} == 2'));
      writeFileSync(join(dir, "hv-rules.test.yml"), readFileSync(RULE_TESTS, "utf8"));
      const r = await run("promtool", ["test", "rules", "hv-rules.test.yml"], { cwd: dir }).then(() => undefined, (err: { stdout: string; stderr: string; code: number }) => err);
      expect(r?.code).toBe(1);
      expect(`${r?.stdout}${r?.stderr}`).toMatch(/FAILED[\s\S]*HvAgentDown/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(skip !== undefined)("against a real Prometheus scraping a real hv", () => {
  let dir = "";
  let agent: HvAgent;
  let prom: Prometheus;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "hv-dash-"));
    const feedFile = join(dir, "iocs.txt");
    writeFileSync(feedFile, "# test feed\n192.0.2.10\n198.51.100.0/24\n");
    agent = await startHvAgent({
      dir,
      config: [`anomaly: { syscalls: ${MODEL} }`, "feeds: { schedule: false }"],
      prepare: async (stateDir) => {
        const db = openStore(join(stateDir, "hv.db"));
        addFeed(db, validateFeedSpec({ name: "local-iocs", url: feedFile, format: "plain", enabled: true, action: "alert" }));
        const sync = await syncFeed(db, "local-iocs", { interfaces: false });
        db.close();
        if (sync.status !== "updated") throw new Error(`feed sync: ${sync.status} ${sync.reason ?? ""}`);
      },
    });
    prom = await startPrometheus({ targets: [`127.0.0.1:${agent.port}`], ruleFiles: [RULES] });
    // Real recorded attacks: alerts (hv_alerts_total), detector timings, and the shipped (monitor
    // mode) playbooks record what they would do (hv_actions_total{result="recorded"}).
    for (const r of RECORDINGS) appendFileSync(agent.auditLog, r);
    const metrics = async (): Promise<string> => (await fetch(`${agent.url}/metrics`)).text();
    await waitUntil(async () => /hv_alerts_total\{/.test(await metrics()) && /hv_actions_total\{/.test(await metrics()), 60_000, "alerts and actions in hv's /metrics", agent);
  }, 120_000);

  afterAll(async () => {
    await prom?.stop();
    await agent?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("every query of the dashboard returns series", async () => {
    // Two scrapes after the attacks, so rates and increases have samples to work with.
    await prom.waitForSample("count(hv_alerts_total) and on() (count_over_time(up{job=\"hv\"}[1m]) > 3)", 60_000);
    const empty: string[] = [];
    for (const q of queries) {
      const expr = asGrafanaSends(q.expr);
      const result = await prom.query(expr);
      if (result.length === 0) empty.push(`${q.panel}: ${expr}`);
    }
    expect(empty, `queries without series:\n${empty.join("\n")}\nhv log:\n${agent.log()}`).toEqual([]);
  }, 90_000);

  test("the variables' queries find this hv", async () => {
    const res = await fetch(`${prom.url}/api/v1/label/instance/values?match[]=${encodeURIComponent('hv_build_info{job=~"hv"}')}`);
    expect(((await res.json()) as { data: string[] }).data).toEqual([`127.0.0.1:${agent.port}`]);
  });

  test("Prometheus evaluates every rule without error, and every metric the rules use exists", async () => {
    await waitUntil(
      async () => {
        const body = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ lastEvaluation: string }> }> } };
        return body.data.groups.flatMap((g) => g.rules).every((r) => !r.lastEvaluation.startsWith("0001"));
      },
      30_000,
      "every rule to be evaluated once",
    );
    const body = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } };
    const rules = body.data.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.name).sort()).toEqual(ruleExprs.map((r) => r.alert).sort());
    for (const r of rules) expect(r, r.name).toMatchObject({ health: "ok" });
    const names = new Set(ruleExprs.flatMap((r) => r.expr.match(/\b(hv_[a-z_]+|up)\b/g) ?? []));
    for (const name of names) expect((await prom.query(name)).length, `${name} has no series`).toBeGreaterThan(0);
  });

  test("with hv stopped, HvAgentDown goes pending", async () => {
    await agent.stop();
    await prom.waitForSample('ALERTS{alertname="HvAgentDown", alertstate="pending"}', 30_000);
  }, 60_000);
});
