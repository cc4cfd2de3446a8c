import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Alerter, entityOf, mitreOf } from "../../src/detectors/alerts.js";
import { createDetectionStage } from "../../src/agent/detection.js";
import type { Detection, Detector } from "../../src/events/alert.js";
import type { HvEvent } from "../../src/events/event.js";
import { ackAlert, getAlert, listAlerts } from "../../src/store/alerts.js";
import { openStore } from "../../src/store/open.js";
import { makeEvent } from "../helpers/events.js";
import { tempDir } from "../store/tmp.js";

const RULE = { id: "11111111-2222-3333-4444-555555555555", title: "Shell from qemu", source: "sigma", tags: ["attack.execution", "attack.t1059.004", "attack.g0001"] };

function at(i: number, seconds: number, overrides: Partial<HvEvent> = {}): HvEvent {
  return makeEvent(i, { "@timestamp": new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString(), ...overrides });
}

const detection = (e: HvEvent, rule = RULE): Detection => ({ rule, severity: "high", events: [e] });

describe("Alerter", () => {
  it("deduplicates the same rule about the same entity within the window, by event time", () => {
    const alerter = new Alerter({ windowMs: 60_000 });
    const vm = { vm: { name: "web1" } };
    const a = alerter.process(detection(at(1, 0, vm)));
    const b = alerter.process(detection(at(2, 30, vm)));
    const c = alerter.process(detection(at(3, 95, vm)));
    const other = alerter.process(detection(at(4, 96, { vm: { name: "db1" } })));
    expect([a.isNew, b.isNew, c.isNew, other.isNew]).toEqual([true, false, true, true]);
    expect(b.alert.count).toBe(2);
    expect(b.alert.event_ids).toEqual(["evt-1", "evt-2"]);
    expect(b.alert.first_seen).toBe(at(1, 0)["@timestamp"]);
    expect(b.alert.last_seen).toBe(at(2, 30)["@timestamp"]);
    expect(c.alert.count).toBe(1);
    expect(other.alert.entity).toEqual({ kind: "vm", id: "db1" });
    expect(alerter.counts).toEqual({ detections: 4, alerts: 3, deduplicated: 1 });
  });

  it("stores alerts and keeps deduplicating across a restart (a new Alerter on the same store)", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    new Alerter({ db }).process(detection(at(1, 0, { vm: { name: "web1" } })));
    const again = new Alerter({ db }).process(detection(at(2, 10, { vm: { name: "web1" } })));
    expect(again.isNew).toBe(false);
    const stored = listAlerts(db);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ count: 2, severity: "high", rule: { id: RULE.id }, vm: { name: "web1" }, mitre: { tactics: ["execution"], techniques: ["T1059.004"] } });
    db.close();
  });

  it("an alert acknowledged in the store (another process, the API, the live view) stays acked: the next detection opens a new one", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    const alerter = new Alerter({ db });
    const first = alerter.process(detection(at(1, 0, { vm: { name: "web1" } })));
    expect(ackAlert(db, first.alert.id!)).toBe(true);
    const next = alerter.process(detection(at(2, 10, { vm: { name: "web1" } })));
    expect(next.isNew).toBe(true);
    expect(next.alert.id).not.toBe(first.alert.id);
    expect(getAlert(db, first.alert.id!)).toMatchObject({ status: "acked", count: 1 });
    expect(getAlert(db, next.alert.id!)).toMatchObject({ status: "open", count: 1 });
    db.close();
  });

  it("a detection about a new target is a new alert; the same target raises the count, also across a restart", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    const vm = { vm: { name: "ops01" } };
    const aimed = (e: HvEvent, target: string): Detection => ({ ...detection(e), target });
    const first = new Alerter({ db }).process(aimed(at(1, 0, vm), "10.77.0.0/24"));
    const later = new Alerter({ db });
    const same = later.process(aimed(at(2, 30, vm), "10.77.0.0/24"));
    const other = later.process(aimed(at(3, 120, vm), "203.0.113.50"));
    const untargeted = later.process(detection(at(4, 130, vm)));
    expect([first.isNew, same.isNew, other.isNew, untargeted.isNew]).toEqual([true, false, true, true]);
    expect(same.alert.count).toBe(2);
    expect(other.alert).toMatchObject({ count: 1, target: "203.0.113.50", first_seen: at(3, 120)["@timestamp"] });
    expect(untargeted.alert.target).toBeUndefined();
    expect(listAlerts(db).map((a) => [a.target, a.count])).toEqual([[undefined, 1], ["203.0.113.50", 1], ["10.77.0.0/24", 2]]);
    db.close();
  });

  it("keeps only the newest event ids", () => {
    const alerter = new Alerter({ maxEventIds: 3 });
    let last;
    for (let i = 1; i <= 5; i++) last = alerter.process(detection(at(i, i, { vm: { name: "v" } })));
    expect(last?.alert.event_ids).toEqual(["evt-3", "evt-4", "evt-5"]);
    expect(last?.alert.count).toBe(5);
  });
});

describe("entityOf and mitreOf", () => {
  it("prefers VM, then user, then process, then address, then host", () => {
    const base = makeEvent(1);
    expect(entityOf([{ ...base, vm: { name: "v" }, user: { id: "0" } }])).toEqual({ kind: "vm", id: "v" });
    expect(entityOf([{ ...base, vm: undefined, user: { id: "0", audit: { id: "1000" } } }])).toEqual({ kind: "user", id: "1000" });
    expect(entityOf([{ ...base, vm: undefined, user: undefined, process: { executable: "/bin/x" } }])).toEqual({ kind: "process", id: "/bin/x" });
    expect(entityOf([{ ...base, vm: undefined, user: undefined, process: undefined, source: { ip: "192.0.2.1" } }])).toEqual({ kind: "ip", id: "192.0.2.1" });
    expect(entityOf([{ ...base, vm: undefined, user: undefined, process: undefined, host: { name: "hv1" } }])).toEqual({ kind: "host", id: "hv1" });
  });

  it("reads ATT&CK tactics and techniques from Sigma tags", () => {
    expect(mitreOf(["attack.defense-evasion", "attack.t1562.012", "attack.T1070", "attack.s0002", "cve.2021-1"])).toEqual({ tactics: ["defense-evasion"], techniques: ["T1562.012", "T1070"] });
  });
});

describe("detection stage", () => {
  it("never alerts on events hv caused itself", () => {
    const seen: string[] = [];
    const always: Detector = { name: "always", onEvent: (e) => [detection(e)] };
    const stage = createDetectionStage({ detectors: [always], alerter: new Alerter(), onAlert: (u) => seen.push(u.alert.event_ids.join()) });
    stage.onEvents([at(1, 0, { tags: ["hv:self-action"] }), at(2, 1)]);
    expect(seen).toEqual(["evt-2"]);
    expect(stage.stats()).toMatchObject({ events: 2, selfCaused: 1, detections: 1 });
  });

  it("runs every detector on every event, raises alerts, and survives a detector that throws", () => {
    const seen: string[] = [];
    const good: Detector = { name: "good", onEvent: (e) => (e.event.id === "evt-2" ? [detection(e)] : []) };
    const broken: Detector = { name: "broken", onEvent: () => { throw new Error("bad rule"); } };
    const errors: string[] = [];
    const stage = createDetectionStage({
      detectors: [broken, good],
      alerter: new Alerter(),
      onAlert: (u) => seen.push(`${u.alert.rule.id}:${u.alert.count}`),
      onError: (_e, name) => errors.push(name),
    });
    stage.onEvents([at(1, 0), at(2, 1), at(3, 2)]);
    expect(seen).toEqual([`${RULE.id}:1`]);
    expect(stage.stats()).toEqual({ events: 3, selfCaused: 0, detections: 1, signals: 0, errors: { broken: 3 } });
    expect(errors).toEqual(["broken", "broken", "broken"]);
  });
});
