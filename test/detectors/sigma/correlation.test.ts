import { describe, expect, it } from "vitest";
import { createSigmaDetector } from "../../../src/detectors/sigma/detector.js";
import type { HvEvent } from "../../../src/events/event.js";
import { BASE_MS, makeEvent } from "../../helpers/events.js";
import { loadText } from "./helpers.js";

const base = (name: string, exe: string): string => `title: ${name}
name: ${name}
logsource:
    product: hv
    service: audit
detection:
    sel:
        process.executable: ${exe}
    condition: sel
level: low
`;
const corr = (body: string): string => `title: corr
id: cccccccc-0000-4000-8000-000000000000
level: high
correlation:
${body}`;

/** Event at second `s` for vm `vm` running `exe`. */
const at = (s: number, exe: string, vm = "vm-a", user = "root"): HvEvent => {
  const e = makeEvent(s, { process: { pid: 100 + s, executable: exe }, vm: { name: vm }, user: { name: user } });
  e.event.module = "audit";
  return e;
};
const run = (text: string, events: HvEvent[]) => {
  const set = loadText(text);
  expect(set.report.filter((r) => r.status !== "loaded")).toEqual([]);
  const d = createSigmaDetector({ rules: set });
  return { d, out: events.flatMap((e) => d.onEvent(e)) };
};

describe("correlations", () => {
  it("event_count: gte within the sliding window, per group-by", () => {
    const text = base("ssh", "/usr/bin/ssh") + "---\n" + corr("    type: event_count\n    rules: [ssh]\n    group-by: [vm.name]\n    timespan: 10s\n    condition:\n        gte: 3\n");
    const events = [at(0, "/usr/bin/ssh"), at(1, "/usr/bin/ssh", "vm-b"), at(5, "/usr/bin/ssh"), at(20, "/usr/bin/ssh"), at(21, "/usr/bin/ssh"), at(22, "/usr/bin/ssh")];
    const { out } = run(text, events);
    const fired = out.filter((d) => d.rule.title === "corr");
    expect(fired).toHaveLength(1);
    expect(fired[0]!.events).toHaveLength(3);
    expect(fired[0]!.severity).toBe("high");
    // Base rule not generated standalone (generate defaults to false).
    expect(out.filter((d) => d.rule.title === "ssh")).toHaveLength(0);
  });

  it("event_count with lt is decided when the window closes (tick)", () => {
    const text = base("ssh", "/usr/bin/ssh") + "---\n" + corr("    type: event_count\n    rules: [ssh]\n    group-by: [vm.name]\n    timespan: 10s\n    condition:\n        lt: 3\n");
    const { d, out } = run(text, [at(0, "/usr/bin/ssh"), at(1, "/usr/bin/ssh")]);
    expect(out).toHaveLength(0);
    expect(d.tick!(BASE_MS + 5_000)).toHaveLength(0);
    expect(d.tick!(BASE_MS + 11_000)).toHaveLength(1);
  });

  it("value_count: distinct values of a field per group", () => {
    const text = base("su", "/usr/bin/su") + "---\n" + corr("    type: value_count\n    rules: [su]\n    group-by: [vm.name]\n    timespan: 1m\n    condition:\n        field: user.name\n        gt: 2\n");
    const events = [at(0, "/usr/bin/su", "vm-a", "a"), at(1, "/usr/bin/su", "vm-a", "a"), at(2, "/usr/bin/su", "vm-a", "b"), at(3, "/usr/bin/su", "vm-a", "c")];
    const { out } = run(text, events);
    expect(out).toHaveLength(1);
    expect(out[0]!.summary).toMatch(/3 distinct user.name/);
  });

  it("temporal: all rules within the timespan, any order", () => {
    const text = [base("a", "/bin/a"), base("b", "/bin/b"), corr("    type: temporal\n    rules: [a, b]\n    group-by: [vm.name]\n    timespan: 5s\n")].join("---\n");
    expect(run(text, [at(0, "/bin/b"), at(3, "/bin/a")]).out).toHaveLength(1);
    expect(run(text, [at(0, "/bin/b"), at(30, "/bin/a")]).out).toHaveLength(0);
    expect(run(text, [at(0, "/bin/b"), at(1, "/bin/a", "vm-other")]).out).toHaveLength(0);
  });

  it("temporal_ordered: only in the order given", () => {
    const text = [base("a", "/bin/a"), base("b", "/bin/b"), corr("    type: temporal_ordered\n    rules: [a, b]\n    group-by: [vm.name]\n    timespan: 5s\n")].join("---\n");
    expect(run(text, [at(0, "/bin/a"), at(2, "/bin/b")]).out).toHaveLength(1);
    expect(run(text, [at(0, "/bin/b"), at(2, "/bin/a")]).out).toHaveLength(0);
  });

  it("generate: true keeps the base rule's own alerts", () => {
    const text = base("ssh", "/usr/bin/ssh") + "---\n" + corr("    type: event_count\n    rules: [ssh]\n    group-by: [vm.name]\n    timespan: 10s\n    generate: true\n    condition:\n        gte: 2\n");
    const { out } = run(text, [at(0, "/usr/bin/ssh"), at(1, "/usr/bin/ssh")]);
    expect(out.map((d) => d.rule.title).sort()).toEqual(["corr", "ssh", "ssh"]);
  });

  it("groups are capped: the stalest is evicted and counted", () => {
    const text = base("ssh", "/usr/bin/ssh") + "---\n" + corr("    type: event_count\n    rules: [ssh]\n    group-by: [vm.name]\n    timespan: 1h\n    condition:\n        gte: 100\n");
    const set = loadText(text);
    const d = createSigmaDetector({ rules: set, maxGroups: 5 });
    for (let i = 0; i < 20; i++) d.onEvent(at(i, "/usr/bin/ssh", `vm-${i}`));
    expect(d.stats().correlations["cccccccc-0000-4000-8000-000000000000"]).toMatchObject({ groups: 5, evictedGroups: 15 });
  });

  it("a correlation naming an unknown rule is unsupported, with the name", () => {
    const set = loadText(corr("    type: event_count\n    rules: [ghost]\n    group-by: [vm.name]\n    timespan: 10s\n    condition:\n        gte: 2\n"));
    expect(set.report[0]!.status).toBe("unsupported");
    expect(set.report[0]!.reasons[0]!.reason).toMatch(/'ghost'/);
    const bad = loadText(corr("    type: event_count\n    rules: [x]\n    timespan: 10 minutes\n    condition:\n        gte: 2\n"));
    expect(bad.report[0]!.status).toBe("invalid");
    expect(bad.report[0]!.reasons[0]!.reason).toMatch(/timespan/);
  });
});
