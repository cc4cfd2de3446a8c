import { describe, expect, it } from "vitest";
import { Alerter } from "../../src/detectors/alerts.js";
import { parseFlowDetectorsConfig } from "../../src/detectors/flows/config.js";
import { createLateralDetector } from "../../src/detectors/flows/lateral.js";
import { createPortScanDetector } from "../../src/detectors/flows/port-scan.js";
import { run, T0, timeline, type Conn } from "./flows-sim.js";

const cfg = parseFlowDetectorsConfig({});
const detector = (over: object = {}) => createLateralDetector(parseFlowDetectorsConfig({ lateral: over }).lateral, 1000);

const ssh = (t: number, extra: Partial<Conn> = {}): Conn => ({ t, src: "10.0.0.23", dst: "10.0.0.21", dport: 22, vm: "ops01", peer: "db01", durationMs: 8000, sent: 4000, recv: 5000, ...extra });

describe("flow:lateral-movement", () => {
  it("fires once when a VM first reaches another VM's ssh, after the settle time, naming both", () => {
    const ds = run([detector()], timeline([ssh(T0 + 60_000), ssh(T0 + 70_000), ssh(T0 + 200_000)]));
    expect(ds.length).toBe(1);
    const d = ds[0]!;
    expect(d.rule.id).toBe("flow:lateral-movement");
    expect(d.entity).toEqual({ kind: "vm", id: "ops01" });
    expect(d.target).toBe("db01 22/tcp");
    expect(d.summary).toMatch(/^ops01 \(10\.0\.0\.23\) reached db01 \(10\.0\.0\.21\) on admin port 22\/tcp for the first time: 2 connection/);
    expect(d.rule.tags).toContain("attack.t1021");
  });

  it("stays quiet on service ports between VMs (an app server and its database) and on VM ↔ outside traffic", () => {
    const conns: Conn[] = [];
    for (let i = 0; i < 100; i++) conns.push({ t: T0 + i * 4000, src: "10.0.0.20", dst: "10.0.0.21", dport: 5432, vm: "app01", peer: "db01" });
    conns.push({ t: T0 + 5000, src: "10.0.0.23", dst: "198.51.100.22", dport: 22, vm: "ops01" });
    conns.push({ t: T0 + 6000, src: "10.0.0.1", dst: "10.0.0.21", dport: 22 });
    expect(run([detector()], timeline(conns))).toEqual([]);
  });

  it("leaves a scan to the port-scan detector, and a login after the scan is still a first contact", () => {
    const conns: Conn[] = [];
    // A sweep of 8 ports over 16 addresses; db01's ssh among them.
    for (let h = 16; h < 32; h++) for (const [i, p] of [22, 80, 443, 445, 3389, 5432, 8080, 9100].entries()) conns.push({ t: T0 + h * 100 + i * 10, src: "10.0.0.23", dst: `10.0.0.${h}`, dport: p, outcome: "refused", vm: "ops01", ...(h === 21 ? { peer: "db01" } : {}) });
    const lateral = detector();
    const scan = createPortScanDetector(cfg.portScan, 1000);
    const during = run([lateral, scan], timeline(conns));
    expect(during.map((d) => d.rule.id)).not.toContain("flow:lateral-movement");
    expect(during.map((d) => d.rule.id)).toContain("flow:port-scan");
    const after = run([lateral], timeline([ssh(T0 + 120_000)]));
    expect(after.map((d) => d.target)).toEqual(["db01 22/tcp"]);
  });

  it("learns what VMs do during learnFor, and allowlisted jump hosts never fire", () => {
    expect(run([detector({ learnFor: "1h" })], timeline([ssh(T0), ssh(T0 + 600_000)]))).toEqual([]);
    expect(run([detector({ allow: [{ source: "10.0.0.23" }] })], timeline([ssh(T0)]))).toEqual([]);
  });

  it("each new VM reached is its own alert", () => {
    const ds = run([detector()], timeline([ssh(T0), ssh(T0 + 120_000, { dst: "10.0.0.20", peer: "app01" })]));
    const alerter = new Alerter();
    const alerts = ds.map((d) => alerter.process(d));
    expect(alerts.map((a) => a.isNew)).toEqual([true, true]);
    expect(alerts.map((a) => a.alert.target)).toEqual(["db01 22/tcp", "app01 22/tcp"]);
  });
});
