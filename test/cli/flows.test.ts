// `hv flows --replay` end to end through bin/hv.js, on a conntrack log in conntrack's own
// `-E -o timestamp,extended,id` format (NEW without counters, DESTROY with them), written by the
// test: a VM scanning another, a VM calling a listed address, DNS lookups, one broken line.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { feedSpec, replayFlows } from "../../src/cli/flows.js";
import { mustSucceed, runHv } from "../helpers/hv-cli.js";

const dir = mkdtempSync(join(tmpdir(), "hv-flows-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T = 1795685600;
let id = 1000;
function tcpRefused(t: number, src: string, dst: string, sport: number, dport: number): string[] {
  const n = id++;
  return [
    `[${t.toFixed(6)}]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=${src} dst=${dst} sport=${sport} dport=${dport} [UNREPLIED] src=${dst} dst=${src} sport=${dport} dport=${sport} id=${n}`,
    `[${(t + 0.0004).toFixed(6)}]\t[DESTROY] ipv4     2 tcp      6 CLOSE src=${src} dst=${dst} sport=${sport} dport=${dport} packets=1 bytes=60 src=${dst} dst=${src} sport=${dport} dport=${sport} packets=1 bytes=40 delta-time=0 id=${n}`,
  ];
}
function udpLookup(t: number, src: string, dst: string, sport: number): string[] {
  const n = id++;
  return [
    `[${t.toFixed(6)}]\t    [NEW] ipv4     2 udp      17 30 src=${src} dst=${dst} sport=${sport} dport=53 [UNREPLIED] src=${dst} dst=${src} sport=53 dport=${sport} id=${n}`,
    `[${(t + 30).toFixed(6)}]\t[DESTROY] ipv4     2 udp      17 src=${src} dst=${dst} sport=${sport} dport=53 packets=1 bytes=61 src=${dst} dst=${src} sport=53 dport=${sport} packets=1 bytes=93 delta-time=30 id=${n}`,
  ];
}
function tcpOk(t: number, src: string, dst: string, sport: number, dport: number): string[] {
  const n = id++;
  return [
    `[${t.toFixed(6)}]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=${src} dst=${dst} sport=${sport} dport=${dport} [UNREPLIED] src=${dst} dst=${src} sport=${dport} dport=${sport} id=${n}`,
    `[${(t + 12).toFixed(6)}]\t[DESTROY] ipv4     2 tcp      6 TIME_WAIT src=${src} dst=${dst} sport=${sport} dport=${dport} packets=9 bytes=900 src=${dst} dst=${src} sport=${dport} dport=${sport} packets=8 bytes=5000 [ASSURED] delta-time=12 id=${n}`,
  ];
}

const lines: string[] = [];
for (let i = 0; i < 20; i++) lines.push(...udpLookup(T + i * 3, "10.30.0.11", "10.30.0.1", 40000 + i));
for (let p = 1; p <= 60; p++) lines.push(...tcpRefused(T + 10 + p * 0.01, "10.30.0.12", "10.30.0.11", 50000 + p, p));
lines.push(...tcpOk(T + 20, "10.30.0.11", "203.0.113.66", 41000, 443));
lines.push("[1795685620.000000]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.30.0.11 dst=nonsense sport=1 dport=2 id=5");
lines.sort((a, b) => Number(/^\[([\d.]+)\]/.exec(a)![1]) - Number(/^\[([\d.]+)\]/.exec(b)![1]));
const log = join(dir, "ct.log");
writeFileSync(log, lines.join("\n") + "\n");
const malformedLine = lines.findIndex((l) => l.includes("nonsense")) + 1;
const inventory = join(dir, "vms.json");
writeFileSync(
  inventory,
  JSON.stringify([
    { name: "web1", uuid: "11111111-1111-4111-8111-111111111111", interfaces: [{ tap: "vnet1", mac: "52:54:00:00:00:11", ip: "10.30.0.11" }] },
    { name: "scanner", uuid: "22222222-2222-4222-8222-222222222222", interfaces: [{ tap: "vnet2", mac: "52:54:00:00:00:12", ip: "10.30.0.12" }] },
  ]),
);
const feed = join(dir, "c2-list.txt");
writeFileSync(feed, "# test feed\n203.0.113.66\n198.51.100.0/24\n");

describe("hv flows --replay", () => {
  it("prints one JSON alert per new alert, attributed through the inventory, with the feed hit, and a summary", async () => {
    const args = ["flows", "--replay", log, "--inventory", inventory, "--feed", feed, "--json"];
    const r = mustSucceed(args, await runHv(args, { stateDir: dir, timeoutMs: 60_000 }));
    const alerts = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { rule: { id: string }; detector: string; vm?: { name?: string }; source?: { ip?: string }; destination?: { ip?: string }; severity: string; summary?: string; threat?: { feed: string; indicator: string } });
    const scan = alerts.filter((a) => a.rule.id === "flow:port-scan");
    expect(scan.length).toBe(1);
    expect(scan[0]!.vm?.name).toBe("scanner");
    expect(scan[0]!.detector).toBe("flow");
    expect(scan[0]!.source?.ip).toBe("10.30.0.12");
    expect(scan[0]!.destination?.ip).toBe("10.30.0.11");
    expect(scan[0]!.summary).toMatch(/^10\.30\.0\.12 probed (1[5-9]|[2-6]\d) ports on 10\.30\.0\.11 .*15 failed/);
    const hit = alerts.filter((a) => a.threat);
    expect(hit.length).toBe(1);
    expect(hit[0]!.threat).toMatchObject({ feed: "c2-list", indicator: "203.0.113.66" });
    expect(hit[0]!.vm?.name).toBe("web1");
    // DNS lookups to the resolver raise nothing.
    expect(alerts.length).toBe(2);
    expect(r.stderr).toContain(`${lines.length} lines`);
    expect(r.stderr).toContain("1 malformed");
    expect(r.stderr).toContain(`line ${malformedLine}:`);
    expect(r.stderr).toMatch(/alerts by rule: .*flow:port-scan 1/);
  });

  it("prints readable lines without --json, and the feed can be named NAME=FILE", async () => {
    const args = ["flows", "--replay", log, "--inventory", inventory, "--feed", `intel=${feed}`];
    const r = mustSucceed(args, await runHv(args, { stateDir: dir, timeoutMs: 60_000 }));
    const out = r.stdout.trim().split("\n");
    expect(out.length).toBe(2);
    expect(out.find((l) => l.includes("flow:port-scan"))).toMatch(/MEDIUM flow:port-scan vm=scanner 10\.30\.0\.12 → 10\.30\.0\.11/);
    expect(out.find((l) => l.includes("[feed intel: 203.0.113.66]"))).toBeDefined();
  });

  it("applies thresholds from --config (a higher port threshold silences the scan) and rejects a bad key", async () => {
    const cfg = join(dir, "hv.yaml");
    writeFileSync(cfg, "flowDetectors:\n  portScan:\n    ports: 100\n");
    const args = ["flows", "--replay", log, "--config", cfg, "--json"];
    const r = mustSucceed(args, await runHv(args, { stateDir: dir, timeoutMs: 60_000 }));
    expect(r.stdout.trim()).toBe("");
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "flowDetectors:\n  portScan:\n    portz: 3\n");
    const rb = await runHv(["flows", "--replay", log, "--config", bad], { stateDir: dir, timeoutMs: 60_000 });
    expect(rb.code, "an unusable config is unusable input").toBe(2);
    expect(rb.stderr).toContain("bad.yaml");
    expect(rb.stderr).toContain("portScan");
  });

  it("replayFlows runs without the command line and names feeds after their files", async () => {
    const { alerts, stats } = await replayFlows({ file: log, inventory });
    expect(alerts.map((a) => a.rule.id)).toEqual(["flow:port-scan"]);
    expect(stats.flows).toBe(lines.length - 1);
    expect(stats.malformed).toBe(1);
    expect(stats.attributed).toBeGreaterThan(100);
    expect(feedSpec("/x/feodo.csv")).toEqual({ name: "feodo", path: "/x/feodo.csv" });
    expect(feedSpec("mine=/x/a=b.txt")).toEqual({ name: "mine", path: "/x/a=b.txt" });
  });
});
