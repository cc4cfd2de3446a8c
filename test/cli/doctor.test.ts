// `hv doctor` and `hv status` as a user runs them (the built CLI): doctor names each missing
// program with its package, a broken config with its field, a stale feed and a missing model with
// the command that fixes them, and exits 1 on problems; status finds a real running agent (hv
// monitor reading stdin, serving its API on a free loopback port) in /proc, its store and its
// /healthz and /metrics.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DoctorReport } from "../../src/cli/doctor-checks.js";
import type { AgentStatus } from "../../src/cli/agent-status.js";
import { parseMetrics } from "../../src/cli/agent-status.js";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import { addFeed } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { HV_BIN, runHv } from "../helpers/hv-cli.js";
import { freePort } from "../helpers/ports.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hv-doctor-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("hv doctor", () => {
  it("names each missing program with its package, and exits 1", async () => {
    const bin = join(dir, "bin");
    await import("node:fs/promises").then((fs) => fs.mkdir(bin));
    await symlink(process.execPath, join(bin, "node"));
    const r = await runHv(["doctor", "--json"], { stateDir: join(dir, "state-a"), env: { PATH: bin, HV_CONFIG: "" }, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(1);
    const report = r.json as DoctorReport;
    const check = (name: string) => report.checks.find((c) => c.name === name);
    expect(check("virsh")).toMatchObject({ status: "problem", fix: expect.stringMatching(/apt-get install libvirt-clients/) });
    expect(check("qemu-img")).toMatchObject({ status: "problem", fix: expect.stringMatching(/apt-get install qemu-utils/) });
    expect(check("nft")).toMatchObject({ status: "problem", fix: expect.stringMatching(/apt-get install nftables/) });
    // Optional tools are one warning, not three problems.
    expect(check("cloud-localds")?.status).toBe("skip");
    expect(check("cloud-init seed tool")).toMatchObject({ status: "warn", fix: expect.stringMatching(/cloud-image-utils/) });
    expect(report.ok).toBe(false);
    expect(report.summary.problem).toBe(report.checks.filter((c) => c.status === "problem").length);
  }, 120_000);

  it("a config with a bad field, a feed never synced and a configured model that is missing: each with its fix", async () => {
    const stateDir = join(dir, "state-b");
    const db = openStore(join(stateDir, "hv.db"));
    addFeed(db, validateFeedSpec({ name: "drop", url: "https://www.spamhaus.org/drop/drop_v4.json", format: "spamhaus-json", schedule: "12h" }));
    db.close();
    const good = join(dir, "good.yaml");
    await writeFile(good, `anomaly:\n  syscalls: ${join(dir, "no-such-model.onnx")}\nfirewall: { enabled: false }\n`);
    const r = await runHv(["doctor", "--config", good, "--json"], { stateDir, timeoutMs: 120_000 });
    const report = r.json as DoctorReport;
    const check = (name: string) => report.checks.find((c) => c.name === name);
    expect(check("configuration")).toMatchObject({ status: "ok" });
    expect(check("feed drop")).toMatchObject({ status: "warn", detail: expect.stringMatching(/never synced/), fix: "hv feeds sync drop" });
    expect(check("anomaly model")).toMatchObject({ status: "problem", detail: expect.stringMatching(/does not exist/), fix: expect.stringMatching(/hv model baseline/) });
    expect(check("store")).toMatchObject({ status: "ok", detail: expect.stringMatching(/schema \d+, 0 events/) });
    expect(r.code).toBe(1);

    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "dedupWindow: soon\n");
    const b = await runHv(["doctor", "--config", bad], { stateDir, timeoutMs: 120_000 });
    expect(b.code).toBe(1);
    expect(b.stdout).toMatch(/PROBLEM configuration: .*bad\.yaml: dedupWindow: must look like 30s/);
    expect(b.stdout).toMatch(/fix: correct the field named in .*bad\.yaml/);
    expect(b.stdout).toMatch(/\d+ problem\(s\), \d+ warning\(s\), \d+ ok/);
  }, 120_000);
});

describe("hv status", () => {
  let agent: ChildProcess | undefined;
  let stateDir = "";
  let config = "";
  let port = 0;

  beforeAll(async () => {
    stateDir = join(dir, "state-status");
    port = await freePort();
    config = join(dir, "agent.yaml");
    // A real agent with its API on loopback; nothing on the host is touched (no firewall, conntrack or feeds).
    await writeFile(config, `stateDir: ${stateDir}\napi: { enabled: true, port: ${port} }\nfirewall: { enabled: false }\nflows: { conntrack: false }\nfeeds: { schedule: false }\n`);
    agent = spawn(process.execPath, [HV_BIN, "monitor", "--stdin", "--config", config, "--no-libvirt", "--no-tui", "--status-every", "0"], { stdio: ["pipe", "ignore", "pipe"], env: { ...process.env, CI: "" } });
    let err = "";
    agent.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const line = (serial: number): string => `type=SYSCALL msg=audit(${Math.floor(Date.now() / 1000)}.000:${serial}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=${30_000 + serial} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="true" exe="/bin/true" key=(null)\ntype=EOE msg=audit(${Math.floor(Date.now() / 1000)}.000:${serial}): \n`;
    for (let i = 1; i <= 3; i++) agent.stdin!.write(line(i));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline || agent.exitCode !== null) throw new Error(`the agent's API never answered; stderr:\n${err}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 90_000);

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent!.once("exit", r));
      agent.kill("SIGTERM");
      await exited;
    }
  });

  it("finds the running agent, its store and its API; --json has the sources from /metrics", async () => {
    let status: AgentStatus | undefined;
    const deadline = Date.now() + 30_000;
    // The three events are stored in the agent's next batch.
    while (!status || (status.store.counts?.events ?? 0) < 3) {
      if (Date.now() > deadline) throw new Error(`the events never reached the store: ${JSON.stringify(status)}`);
      const r = await runHv(["status", "--config", config, "--json"], { stateDir, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      status = r.json as AgentStatus;
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(status.processes.map((p) => p.pid)).toContain(agent!.pid);
    expect(status.processes.find((p) => p.pid === agent!.pid)?.command).toMatch(/^hv monitor --stdin/);
    expect(status.api).toMatchObject({ url: `http://127.0.0.1:${port}`, healthz: "ok", metrics: "ok" });
    expect(status.store.newestEvent).toMatch(/^\d{4}-/);
    expect(status.metrics?.sources).toContainEqual({ source: "audit", events: 3, dropped: 0 });
    const text = await runHv(["status", "--config", config], { stateDir, timeoutMs: 60_000 });
    expect(text.stdout).toMatch(new RegExp(`agent: pid ${agent!.pid}, up \\d+ min: hv monitor --stdin`));
    expect(text.stdout).toMatch(/store: .*hv\.db .*: 3 events/);
    expect(text.stdout).toMatch(/\/healthz ok, \/metrics ok/);
  }, 90_000);

  it("an API that does not answer is reported, and exits 1", async () => {
    const other = join(dir, "quiet.yaml");
    await writeFile(other, `api: { enabled: true, port: ${await freePort()} }\n`);
    const r = await runHv(["status", "--config", other, "--json"], { stateDir: join(dir, "state-none"), env: {}, timeoutMs: 60_000 });
    const s = r.json as AgentStatus;
    expect(s.api?.healthz).toMatch(/no answer/);
    expect(s.store.exists).toBe(false);
    expect(r.code).toBe(1);
  }, 60_000);
});

describe("parseMetrics", () => {
  it("reads events and drops per source, the queue and the stored total from Prometheus text", () => {
    const m = parseMetrics(
      [
        "# HELP hv_events_total Events newly stored, by source (event module).",
        "# TYPE hv_events_total counter",
        'hv_events_total{source="audit"} 120',
        'hv_events_total{source="flow"} 7',
        'hv_events_dropped_total{source="audit:/var/run/audispd_events"} 3',
        "hv_queue_depth 12",
        "hv_events_stored_total 127",
        'hv_alerts_total{severity="high",rule="x"} 1',
      ].join("\n"),
    );
    expect(m).toEqual({
      sources: [
        { source: "audit", events: 120, dropped: 0 },
        { source: "audit:/var/run/audispd_events", events: 0, dropped: 3 },
        { source: "flow", events: 7, dropped: 0 },
      ],
      queueDepth: 12,
      stored: 127,
    });
  });
});
