import { describe, expect, it } from "vitest";
import { base64Offsets } from "../../../src/detectors/sigma/modifiers.js";
import { makeEvent } from "../../helpers/events.js";
import { compileOne, loadText, ruleYaml, test1 } from "./helpers.js";

const ev = (cmd: string, extra: Parameters<typeof makeEvent>[1] = {}) => makeEvent(1, { process: { pid: 10, executable: "/usr/bin/bash", command_line: cmd }, ...extra });
const sel = (body: string): string => `    sel:\n${body}\n    condition: sel`;

describe("plain values and wildcards", () => {
  it("equality is case-insensitive and whole-value", () => {
    expect(test1(sel("        process.command_line: 'LS -LA'"), ev("ls -la"))).toBe(true);
    expect(test1(sel("        process.command_line: 'ls'"), ev("ls -la"))).toBe(false);
  });
  it("* and ? wildcards, at the ends and inside", () => {
    expect(test1(sel("        process.command_line: 'ls*'"), ev("ls -la"))).toBe(true);
    expect(test1(sel("        process.command_line: '*-la'"), ev("ls -la"))).toBe(true);
    expect(test1(sel("        process.command_line: 'l*a'"), ev("ls -la"))).toBe(true);
    expect(test1(sel("        process.command_line: 'ls -l?'"), ev("ls -la"))).toBe(true);
    expect(test1(sel("        process.command_line: 'ls -?'"), ev("ls -la"))).toBe(false);
    expect(test1(sel("        process.command_line: '*'"), ev("anything"))).toBe(true);
  });
  it("escapes: \\* \\? \\\\ are literal, a lone backslash stays", () => {
    expect(test1(sel("        process.command_line: 'a\\*b'"), ev("a*b"))).toBe(true);
    expect(test1(sel("        process.command_line: 'a\\*b'"), ev("axxb"))).toBe(false);
    expect(test1(sel("        process.command_line: 'a\\?b'"), ev("a?b"))).toBe(true);
    expect(test1(sel("        process.command_line: 'a\\?b'"), ev("axb"))).toBe(false);
    expect(test1(sel("        process.command_line: 'a\\\\*'"), ev("a\\zzz"))).toBe(true);
    expect(test1(sel("        process.command_line: 'C:\\temp'"), ev("c:\\TEMP"))).toBe(true);
  });
  it("numbers compare with strings sensibly", () => {
    expect(test1(sel("        process.pid: 10"), ev("x"))).toBe(true);
    expect(test1(sel("        process.pid: '10'"), ev("x"))).toBe(true);
    expect(test1(sel("        process.pid: 11"), ev("x"))).toBe(false);
  });
  it("a list of values is OR; |all makes it AND", () => {
    expect(test1(sel("        process.command_line|contains:\n            - nope\n            - '-la'"), ev("ls -la"))).toBe(true);
    expect(test1(sel("        process.command_line|contains|all:\n            - nope\n            - '-la'"), ev("ls -la"))).toBe(false);
    expect(test1(sel("        process.command_line|contains|all:\n            - ls\n            - '-la'"), ev("ls -la"))).toBe(true);
  });
  it("null: field absent or empty", () => {
    expect(test1(sel("        process.parent.executable: null"), ev("x"))).toBe(true);
    expect(test1(sel("        process.command_line: null"), ev(""))).toBe(true);
    expect(test1(sel("        process.command_line: null"), ev("x"))).toBe(false);
  });
});

describe("string modifiers", () => {
  it("contains / startswith / endswith", () => {
    expect(test1(sel("        process.command_line|contains: 'WGET'"), ev("/usr/bin/wget http://x"))).toBe(true);
    expect(test1(sel("        process.command_line|startswith: '/usr/bin/w'"), ev("/usr/bin/wget http://x"))).toBe(true);
    expect(test1(sel("        process.command_line|endswith: '//x'"), ev("/usr/bin/wget http://x"))).toBe(true);
    expect(test1(sel("        process.command_line|endswith: 'wget'"), ev("/usr/bin/wget http://x"))).toBe(false);
  });
  it("contains with inner wildcards", () => {
    expect(test1(sel("        process.command_line|contains: 'wget*//x'"), ev("sudo wget http://x now"))).toBe(true);
    expect(test1(sel("        process.command_line|contains: 'wget?http'"), ev("wget http"))).toBe(true);
  });
  it("cased makes matching case-sensitive", () => {
    expect(test1(sel("        process.command_line|cased: 'LS'"), ev("ls"))).toBe(false);
    expect(test1(sel("        process.command_line|contains|cased: 'LS'"), ev("xLSx"))).toBe(true);
  });
  it("windash: - / and the three long dashes are interchangeable", () => {
    for (const d of ["-", "/", "\u2013", "\u2014", "\u2015"]) expect(test1(sel("        process.command_line|windash|contains: ' -enc '"), ev(`powershell ${d}enc AAA`))).toBe(true);
    expect(test1(sel("        process.command_line|windash|contains: ' -enc '"), ev("powershell +enc AAA"))).toBe(false);
  });
  it("re, with i/m/s sub-modifiers; case-sensitive by default", () => {
    expect(test1(sel("        process.command_line|re: '^ls\\s+-l'"), ev("ls   -la"))).toBe(true);
    expect(test1(sel("        process.command_line|re: '^LS'"), ev("ls"))).toBe(false);
    expect(test1(sel("        process.command_line|re|i: '^LS'"), ev("ls"))).toBe(true);
    expect(test1(sel("        process.command_line|re: '^b$'"), ev("a\nb"))).toBe(false);
    expect(test1(sel("        process.command_line|re|m: '^b$'"), ev("a\nb"))).toBe(true);
    expect(test1(sel("        process.command_line|re: 'a.b'"), ev("a\nb"))).toBe(false);
    expect(test1(sel("        process.command_line|re|s: 'a.b'"), ev("a\nb"))).toBe(true);
    expect(test1(sel("        process.command_line|re: '(?i)^LS'"), ev("ls"))).toBe(true);
  });
  it("base64 encodes the value", () => {
    const enc = Buffer.from("/bin/sh -i").toString("base64");
    expect(test1(sel("        process.command_line|base64|contains: '/bin/sh -i'"), ev(`echo ${enc} | base64 -d`))).toBe(true);
  });
  it("base64offset: the three offsets of a known string", () => {
    // "http" inside base64 text at byte offsets 0, 1, 2 of a 3-byte group.
    expect(base64Offsets("http")).toEqual(["aHR0c", "h0dH", "odHRw"]);
    for (const prefix of ["", "a", "ab", "abc"]) {
      const enc = Buffer.from(`${prefix}http://evil.example/x`).toString("base64");
      expect(test1(sel("        process.command_line|base64offset|contains: 'http://'"), ev(`echo ${enc}`))).toBe(true);
    }
    expect(test1(sel("        process.command_line|base64offset|contains: 'http://'"), ev("echo aGVsbG8gd29ybGQ="))).toBe(false);
  });
  it("expand without configured placeholders is unsupported, naming the placeholder", () => {
    const set = loadText(ruleYaml(sel("        user.name|expand: '%admins%'")));
    expect(set.report[0]!.status).toBe("unsupported");
    expect(set.report[0]!.reasons[0]!.reason).toContain("%admins%");
  });
  it("UTF-16 encodings are unsupported with a reason", () => {
    const set = loadText(ruleYaml(sel("        process.command_line|wide|base64offset|contains: 'x'")));
    expect(set.report[0]!.status).toBe("unsupported");
    expect(set.report[0]!.reasons[0]!.reason).toMatch(/UTF-16/);
  });
  it("an unknown modifier is unsupported, with the modifier named and its line", () => {
    const set = loadText(ruleYaml(sel("        process.command_line|sometimes: 'x'")));
    expect(set.report[0]!.status).toBe("unsupported");
    expect(set.report[0]!.reasons[0]).toEqual({ line: 9, field: "process.command_line|sometimes", reason: "unknown modifier 'sometimes' on field 'process.command_line'" });
  });
});

describe("other modifiers", () => {
  it("cidr, IPv4 and IPv6 (and v4-mapped v6)", () => {
    const v4 = (ip: string) => makeEvent(1, { destination: { ip } });
    const r = sel("        destination.ip|cidr:\n            - 10.0.0.0/8\n            - 2001:db8::/32");
    expect(test1(r, v4("10.1.2.3"))).toBe(true);
    expect(test1(r, v4("11.1.2.3"))).toBe(false);
    expect(test1(r, v4("2001:db8:1::5"))).toBe(true);
    expect(test1(r, v4("2001:db9::5"))).toBe(false);
    expect(test1(r, v4("::ffff:10.9.9.9"))).toBe(true);
    expect(test1(r, v4("not-an-ip"))).toBe(false);
    expect(test1(sel("        destination.ip|cidr: 192.0.2.128/25"), v4("192.0.2.200"))).toBe(true);
    expect(test1(sel("        destination.ip|cidr: 192.0.2.128/25"), v4("192.0.2.100"))).toBe(false);
  });
  it("lt / lte / gt / gte compare numbers", () => {
    const e = makeEvent(1, { destination: { ip: "1.2.3.4", port: 1024 } });
    expect(test1(sel("        destination.port|lt: 1025"), e)).toBe(true);
    expect(test1(sel("        destination.port|lt: 1024"), e)).toBe(false);
    expect(test1(sel("        destination.port|lte: 1024"), e)).toBe(true);
    expect(test1(sel("        destination.port|gt: 1023"), e)).toBe(true);
    expect(test1(sel("        destination.port|gte: 1025"), e)).toBe(false);
    expect(test1(sel("        destination.ip|gt: 1"), e)).toBe(false);
  });
  it("exists", () => {
    expect(test1(sel("        vm.name|exists: true"), makeEvent(1))).toBe(true);
    expect(test1(sel("        file.path|exists: true"), makeEvent(1))).toBe(false);
    expect(test1(sel("        file.path|exists: false"), makeEvent(1))).toBe(true);
  });
  it("fieldref compares two fields of the event", () => {
    const same = makeEvent(1, { user: { id: "0", name: "root", effective: { id: "0" } } });
    const diff = makeEvent(1, { user: { id: "1000", name: "bob", effective: { id: "0" } } });
    expect(test1(sel("        user.id|fieldref: user.effective.id"), same)).toBe(true);
    expect(test1(sel("        user.id|fieldref: user.effective.id"), diff)).toBe(false);
    expect(test1(sel("        user.id|fieldref|neq: user.effective.id"), diff)).toBe(true);
  });
  it("neq", () => {
    expect(test1(sel("        user.name|neq: root"), makeEvent(1))).toBe(false);
    expect(test1(sel("        user.name|neq: bob"), makeEvent(1))).toBe(true);
  });
  it("keyword lists match anywhere in the event's searchable text", () => {
    const r = compileOne(ruleYaml("    keywords:\n        - 'HV-FX'\n        - 'nothing'\n    condition: keywords"));
    expect(r.need).not.toBeNull();
    expect(test1("    keywords:\n        - 'HV-FX'\n    condition: keywords", ev("echo hv-fx"))).toBe(true);
    expect(test1("    keywords:\n        - 'zzz*yyy'\n    condition: keywords", ev("echo zzz and yyy"))).toBe(true);
    expect(test1("    keywords:\n        - 'absent'\n    condition: keywords", ev("echo hv-fx"))).toBe(false);
  });
});
