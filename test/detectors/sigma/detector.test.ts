import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSigmaDetector } from "../../../src/detectors/sigma/detector.js";
import { loadRules } from "../../../src/detectors/sigma/ruleset.js";
import type { HvEvent } from "../../../src/events/event.js";
import { makeEvent } from "../../helpers/events.js";
import { decodeFixture, loadText, ruleYaml } from "./helpers.js";

const echoRule = ruleYaml("    sel:\n        Image|endswith: /echo\n        CommandLine|contains: hv-fx\n    condition: sel", "product: linux\ncategory: process_creation", "tags:\n    - attack.execution\ndescription: echo with hv-fx\n");

describe("the Sigma detector", () => {
  it("returns Detections with the rule ref, severity from level, and the event", () => {
    const d = createSigmaDetector({ rules: loadText(echoRule) });
    const events = [...decodeFixture("real-execve.log"), ...decodeFixture("real-file.log")];
    const out = events.flatMap((e) => d.onEvent(e));
    expect(out.length).toBeGreaterThan(0);
    expect(out[0]!.rule).toMatchObject({ id: "11111111-1111-4111-8111-111111111111", title: "t", source: "sigma", level: "high", tags: ["attack.execution"], description: "echo with hv-fx", file: "test.yml" });
    expect(out[0]!.severity).toBe("high");
    expect(out[0]!.events).toHaveLength(1);
    const s = d.stats();
    expect(s.perRule[0]!.matches).toBe(out.length);
    expect(s.events).toBe(events.length);
    // The logsource index kept the rule away from non-exec events; the prefilter from execs without "hv-fx".
    expect(s.candidates).toBeLessThan(events.length);
    expect(s.evaluations).toBeLessThanOrEqual(s.candidates);
  });

  it("prefilter on and off give the same detections", () => {
    const set = loadText(echoRule + "---\n" + ruleYaml("    keywords:\n        - 'plain words'\n    condition: keywords", "product: linux\nservice: auditd").replace("title: t", "title: kw"));
    const events = decodeFixture("real-execve.log");
    const on = createSigmaDetector({ rules: set });
    const off = createSigmaDetector({ rules: set, prefilter: false });
    const a = events.flatMap((e) => on.onEvent(e)).map((x) => `${x.rule.title}:${x.events[0]!.event.id}`);
    const b = events.flatMap((e) => off.onEvent(e)).map((x) => `${x.rule.title}:${x.events[0]!.event.id}`);
    expect(a).toEqual(b);
    expect(a.some((x) => x.startsWith("kw:"))).toBe(true);
    expect(on.stats().evaluations).toBeLessThan(off.stats().evaluations);
  });

  it("exceptions suppress matching alerts and count them", () => {
    const set = loadText(echoRule);
    const events = decodeFixture("real-execve.log");
    const all = createSigmaDetector({ rules: set }).onEvent.bind(null);
    const baseline = events.flatMap((e) => all(e)).length;
    const d = createSigmaDetector({
      rules: set,
      exceptions: [
        { rule: "t*", match: { CommandLine: "*quotes*" }, comment: "the quoted echo is ours" },
        { rule: "someone-else", match: { Image: "/usr/bin/echo" } },
      ],
    });
    const out = events.flatMap((e) => d.onEvent(e));
    expect(out.length).toBe(baseline - 1);
    const ex = d.stats().exceptions;
    expect(ex[0]).toMatchObject({ rule: "t*", comment: "the quoted echo is ours", suppressed: 1 });
    expect(ex[1]!.suppressed).toBe(0);
    expect(() => createSigmaDetector({ rules: set, exceptions: [{ rule: "x", match: {} }] })).toThrow(/match/);
  });

  it("Sigma filter rules drop matches of the rules they name", () => {
    const filter = `title: not the quoted one
logsource:
    product: linux
    category: process_creation
filter:
    rules:
        - 11111111-1111-4111-8111-111111111111
    selection:
        CommandLine|contains: quotes
    condition: not selection
`;
    const set = loadText(echoRule + "---\n" + filter);
    expect(set.filters).toHaveLength(1);
    const d = createSigmaDetector({ rules: set });
    const events = decodeFixture("real-execve.log");
    events.forEach((e) => d.onEvent(e));
    expect(d.stats().filters[0]!.suppressed).toBe(1);
  });

  it("random events never make compiled rules throw", () => {
    const dir = new URL("../../../../shared/data/sigma/rules/linux", import.meta.url).pathname;
    let set = loadText(echoRule);
    try {
      set = loadRules([dir]);
    } catch {
      // ../shared absent: the echo rule alone (load.test.ts says so loudly).
    }
    const d = createSigmaDetector({ rules: set });
    const str = fc.oneof(fc.string(), fc.constantFrom("/bin/sh", "wget", "-c", "10.0.0.1", "::1", ""));
    const record = fc.record({ type: fc.constantFrom("SYSCALL", "EXECVE", "PATH", "CWD", "X"), fields: fc.dictionary(fc.constantFrom("a0", "a1", "name", "exe", "comm", "syscall", "key", "type", "nametype"), fc.option(str, { nil: null })) });
    const event = fc.record({
      action: fc.constantFrom("execve", "connect", "openat", "x"),
      cmd: fc.option(str, { nil: undefined }),
      exe: fc.option(str, { nil: undefined }),
      ip: fc.option(str, { nil: undefined }),
      port: fc.option(fc.integer(), { nil: undefined }),
      records: fc.array(record, { maxLength: 4 }),
    });
    fc.assert(
      fc.property(event, (r) => {
        const e: HvEvent = makeEvent(1, { event: { action: r.action, category: ["process", "network", "file"], type: ["start", "creation"] } });
        e.process = { pid: 1, ...(r.exe !== undefined && { executable: r.exe }), ...(r.cmd !== undefined && { command_line: r.cmd }) };
        e.destination = { ...(r.ip !== undefined && { ip: r.ip }), ...(r.port !== undefined && { port: r.port }) };
        e.audit = { serial: 1, time: "1.0", type: "SYSCALL", records: r.records };
        d.onEvent(e);
        d.tick!(Date.now());
      }),
      { numRuns: 300 },
    );
  });
});
