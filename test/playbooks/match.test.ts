import { describe, expect, it } from "vitest";
import { matchAlert } from "../../src/playbooks/match.js";
import type { PlaybookMatch } from "../../src/playbooks/schema.js";
import { alertOf } from "./helpers.js";

const yes = (m: PlaybookMatch, a = alertOf()): boolean => matchAlert(m, a).matched;

describe("playbook matching", () => {
  it("rules: ids and globs", () => {
    expect(yes({ rules: ["caa1bc1b-5329-4d1b-8e56-af2a262d95b9"] })).toBe(true);
    expect(yes({ rules: ["caa1bc1b-*"] })).toBe(true);
    expect(yes({ rules: ["intel:*"] })).toBe(false);
    const intel = alertOf({ rule: { id: "intel:feodo", title: "x", source: "intel" } });
    expect(yes({ rules: ["intel:*"] }, intel)).toBe(true);
    expect(yes({ rules: ["intel:feodo?"] }, intel)).toBe(false);
    // A dot in an id is not "any character".
    expect(yes({ rules: ["flow.beacon"] }, alertOf({ rule: { id: "flowXbeacon", title: "x", source: "flow" } }))).toBe(false);
  });

  it("tags: case-insensitive, globs", () => {
    expect(yes({ tags: ["ATTACK.EXECUTION"] })).toBe(true);
    expect(yes({ tags: ["attack.t1059*"] })).toBe(true);
    expect(yes({ tags: ["attack.persistence"] })).toBe(false);
  });

  it("techniques: from alert.mitre and attack.tNNNN tags; a technique covers its sub-techniques", () => {
    expect(yes({ techniques: ["T1611"] })).toBe(true);
    expect(yes({ techniques: ["T1059"] })).toBe(true);
    expect(yes({ techniques: ["T1059.001"] })).toBe(false);
    const tagOnly = alertOf({ mitre: { tactics: [], techniques: [] }, rule: { id: "r", title: "t", source: "sigma", tags: ["attack.t1110.001"] } });
    expect(yes({ techniques: ["T1110"] }, tagOnly)).toBe(true);
    expect(yes({ techniques: ["T1611"] }, tagOnly)).toBe(false);
  });

  it("min_severity", () => {
    expect(yes({ minSeverity: "high" })).toBe(true);
    expect(yes({ minSeverity: "critical" })).toBe(false);
    expect(yes({ minSeverity: "informational" }, alertOf({ severity: "low" }))).toBe(true);
  });

  it("min_anomaly_score: a ratio to the threshold, or absolute", () => {
    const anomalous = alertOf({ anomaly: { model: "syscalls", score: 6, threshold: 4, explanation: [] } });
    expect(yes({ minAnomalyScore: { ratio: 1.5 } }, anomalous)).toBe(true);
    expect(yes({ minAnomalyScore: { ratio: 1.6 } }, anomalous)).toBe(false);
    expect(yes({ minAnomalyScore: { absolute: 6 } }, anomalous)).toBe(true);
    expect(yes({ minAnomalyScore: { absolute: 6.1 } }, anomalous)).toBe(false);
    expect(matchAlert({ minAnomalyScore: { ratio: 1 } }, alertOf()).misses).toEqual(["not an anomaly alert"]);
  });

  it("feeds: names or any", () => {
    const hit = alertOf({ threat: { feed: "feodo", indicator: "203.0.113.9", kind: "ip", matched: "203.0.113.9", field: "destination.ip" } });
    expect(yes({ feeds: ["feodo"] }, hit)).toBe(true);
    expect(yes({ feeds: ["spamhaus"] }, hit)).toBe(false);
    expect(yes({ feeds: "any" }, hit)).toBe(true);
    expect(yes({ feeds: "any" })).toBe(false);
  });

  it("entity kinds and VM name globs", () => {
    expect(yes({ entity: ["vm", "ip"] })).toBe(true);
    expect(yes({ entity: ["host"] })).toBe(false);
    expect(yes({ vms: ["web*"] })).toBe(true);
    expect(yes({ vms: ["db-?"] })).toBe(false);
    expect(yes({ vms: ["*"] }, alertOf({ vm: undefined, entity: { kind: "ip", id: "203.0.113.1" } }))).toBe(false);
  });

  it("every criterion must hold, and each miss is explained", () => {
    const r = matchAlert({ rules: ["caa1bc1b-*"], minSeverity: "critical", entity: ["user"] }, alertOf());
    expect(r.matched).toBe(false);
    expect(r.misses).toEqual(["severity high is below critical", "entity vm is not one of user"]);
  });
});
