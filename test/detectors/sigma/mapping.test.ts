import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { decodeAuditLines } from "../../../src/collectors/audit/decoder.js";
import { describe, expect, it } from "vitest";
import { EVENT_ROOTS, MAPPED_FIELDS, ecsAccessor } from "../../../src/detectors/sigma/mapping.js";
import { VirshEventParser, toHvEvent } from "../../../src/collectors/libvirt/events.js";
import type { HvEvent } from "../../../src/events/event.js";
import { compileOne, decodeFixture, loadText, matches, ruleYaml } from "./helpers.js";

const execs = decodeFixture("real-execve.log");
const echo = execs.find((e) => e.process?.args?.[1] === "hv-fx" && e.event.action === "execve")!;

describe("logsource and field mapping on real audit events", () => {
  it("the fixture has the recorded echo exec", () => {
    expect(echo.process?.executable).toBe("/usr/bin/echo");
  });

  it("process_creation: Image|endswith + CommandLine|contains match the echo exec", () => {
    const r = compileOne(ruleYaml("    sel:\n        Image|endswith: /echo\n        CommandLine|contains: hv-fx\n    condition: sel", "product: linux\ncategory: process_creation"));
    expect(matches(r, echo)).toBe(true);
    const hits = execs.filter((e) => matches(r, e));
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((e) => e.event.action === "execve")).toBe(true);
    // Non-exec events are not process_creation at all.
    const other = decodeFixture("real-file.log").filter((e) => r.source!.applies(e));
    expect(other.every((e) => e.event.action.startsWith("execve"))).toBe(true);
  });

  it("process_creation: User, CurrentDirectory, ProcessId", () => {
    const r = compileOne(ruleYaml(`    sel:\n        User: root\n        CurrentDirectory: ${echo.process!.working_directory}\n        ProcessId: ${echo.process!.pid}\n    condition: sel`, "product: linux\ncategory: process_creation"));
    expect(matches(r, echo)).toBe(true);
  });

  it("auditd: type: EXECVE + a1: hv-fx matches the EXECVE argument", () => {
    const r = compileOne(ruleYaml("    sel:\n        type: EXECVE\n        a1: hv-fx\n    condition: sel", "product: linux\nservice: auditd"));
    expect(matches(r, echo)).toBe(true);
  });

  it("auditd: SYSCALL by name and by number", () => {
    for (const v of ["execve", "59"]) {
      const r = compileOne(ruleYaml(`    sel:\n        type: SYSCALL\n        syscall: '${v}'\n    condition: sel`, "product: linux\nservice: auditd"));
      expect(matches(r, echo)).toBe(true);
      const r2 = compileOne(ruleYaml(`    sel:\n        SYSCALL: ${v}\n    condition: sel`, "product: linux\nservice: auditd"));
      expect(matches(r2, echo)).toBe(true);
    }
  });

  it("auditd: any PATH record's name, exe, comm, key, cwd, proctitle", () => {
    const r = compileOne(
      ruleYaml(
        "    sel:\n        name: /lib64/ld-linux-x86-64.so.2\n        exe: /usr/bin/echo\n        comm: echo\n        key: hvexec\n        cwd|startswith: /\n        proctitle|contains: hv-fx\n    condition: sel",
        "product: linux\nservice: auditd",
      ),
    );
    expect(matches(r, echo)).toBe(true);
  });

  it("file_event: TargetFilename on a recorded file creation", () => {
    const files = decodeFixture("real-file.log");
    const r = compileOne(ruleYaml("    sel:\n        TargetFilename|endswith: /watched/file.txt\n    condition: sel", "product: linux\ncategory: file_event"));
    const hits = files.filter((e) => matches(r, e) && r.source!.applies(e));
    expect(hits.length).toBeGreaterThan(0);
  });

  it("network_connection: DestinationIp, DestinationPort, Initiated on a recorded connect", () => {
    const conns = decodeFixture("real-connect.log");
    const r = compileOne(ruleYaml("    sel:\n        DestinationIp|cidr: 127.0.0.0/8\n        Initiated: 'true'\n        DestinationPort|gt: 0\n    condition: sel", "product: linux\ncategory: network_connection"));
    expect(conns.filter((e) => r.source!.applies(e) && matches(r, e)).length).toBeGreaterThan(0);
  });

  it("product hv, service audit: ECS dotted names", () => {
    const r = compileOne(ruleYaml("    sel:\n        process.executable: /usr/bin/echo\n        audit.key: hvexec\n    condition: sel", "product: hv\nservice: audit"));
    expect(matches(r, echo)).toBe(true);
  });

  it("an unmapped field in a mapped logsource is unsupported, with the field named", () => {
    const set = loadText(ruleYaml("    sel:\n        Bogus: x\n    condition: sel", "product: linux\ncategory: process_creation"));
    expect(set.report[0]!.status).toBe("unsupported");
    expect(set.report[0]!.reasons[0]!.reason).toMatch(/'Bogus'/);
    const win = loadText(ruleYaml("    sel:\n        OriginalFileName: x.exe\n    condition: sel", "product: linux\ncategory: process_creation"));
    expect(win.report[0]!.reasons[0]!.reason).toMatch(/OriginalFileName/);
  });

  it("an unproduced logsource is dormant: loaded, compiled, listed separately", () => {
    const set = loadText(ruleYaml("    sel:\n        Whatever: x\n    condition: sel", "product: linux\nservice: syslog"));
    expect(set.report[0]!.status).toBe("dormant");
    expect(set.dormant).toHaveLength(1);
    expect(set.rules).toHaveLength(0);
  });

  it("product hv, service libvirt: libvirt.* fields of real virsh events load and match", () => {
    const parser = new VirshEventParser();
    const text = readFileSync(new URL("../../fixtures/libvirt/virsh-events.txt", import.meta.url), "utf8");
    const lines = text.split("\n").filter((l) => l !== "");
    const events = [...lines.flatMap((l) => parser.push(l)), ...parser.flush()].map((v, i) => toHvEvent(v, { uri: "qemu:///system" }, i));
    const started = events.filter((e) => e.libvirt?.event === "lifecycle" && e.libvirt.lifecycle?.type === "Started");
    expect(started.length).toBeGreaterThan(0);
    const set = loadText(ruleYaml("    sel:\n        libvirt.event: lifecycle\n        libvirt.lifecycle.type: Started\n        vm.name: hvfix1\n    condition: sel", "product: hv\nservice: libvirt"));
    expect(set.report[0]!.status).toBe("loaded");
    const rule = set.rules[0]!;
    const hits = events.filter((e) => rule.source!.applies(e) && matches(rule, e));
    expect(hits).toEqual(started);
    // A params key of a real job-completed event, through the same dotted path.
    const job = events.find((e) => e.libvirt?.event === "job-completed")!;
    const param = Object.keys(job.libvirt!.params ?? {})[0]!;
    const byParam = compileOne(ruleYaml(`    sel:\n        libvirt.params.${param}: '${job.libvirt!.params![param]}'\n    condition: sel`, "product: hv\nservice: libvirt"));
    expect(matches(byParam, job)).toBe(true);
    // An audit event is not a libvirt event.
    expect(rule.source!.applies(echo)).toBe(false);
  });

  it("every root of the Event type is an ECS field name rules may use", () => {
    // The compiler holds the table to the type (Record<keyof HvEvent, true>); this checks the
    // roots real events carry, and the ones once missing, resolve.
    const roots: Array<keyof HvEvent> = ["libvirt", "flow", "observer", "url", "dns"];
    for (const r of roots) expect(EVENT_ROOTS.has(r)).toBe(true);
    for (const e of [echo, ...decodeFixture("real-connect.log")]) for (const k of Object.keys(e)) expect(EVENT_ROOTS.has(k)).toBe(true);
    for (const f of ["flow.phase", "observer.ingress.interface.name", "url.full", "dns.question.name", "libvirt.lifecycle.detail"]) {
      expect("unsupported" in ecsAccessor(f)).toBe(false);
    }
    expect(ecsAccessor("bogus.field")).toEqual({ unsupported: expect.stringMatching(/'bogus.field'/) });
  });

  it("keywords of an exec meet its arguments, not the numbers and paths of its other records", () => {
    // Real execs from the benign session: `git init` (SYSCALL exit=0, PATH ld-linux-x86-64.so.2).
    const shutdown = compileOne(
      ruleYaml("    execve:\n        type: EXECVE\n    init:\n        - 'init'\n    sel:\n        - 0\n        - 6\n    condition: execve and init and sel", "product: linux\nservice: auditd"),
    );
    const benign = decodeFixture("benign-session.log");
    const gitInit = benign.find((e) => e.process?.args?.[0] === "git" && e.process.args[1] === "init")!;
    expect(gitInit).toBeDefined();
    expect(matches(shutdown, gitInit)).toBe(false);
    const copy = compileOne(ruleYaml("    kw:\n        - 'hv-fx'\n    condition: kw", "product: linux\nservice: auditd"));
    expect(matches(copy, echo)).toBe(true);
    // Another event of a process with a title: the title, not a PATH record's device number.
    const files = decodeFixture("real-file.log");
    const titled = files.find((e) => !e.process?.args && e.process?.title && e.audit!.records.some((r) => r.type === "PATH" && r.fields.dev))!;
    const dev = titled.audit!.records.find((r) => r.type === "PATH" && r.fields.dev)!.fields.dev!;
    expect(titled.process!.title).not.toContain(dev);
    const byDev = compileOne(ruleYaml(`    kw:\n        - '${dev}'\n    condition: kw`, "product: linux\nservice: auditd"));
    expect(matches(byDev, titled)).toBe(false);
    const byTitle = compileOne(ruleYaml(`    kw:\n        - '${titled.process!.title!.split(" ")[0]}'\n    condition: kw`, "product: linux\nservice: auditd"));
    expect(matches(byTitle, titled)).toBe(true);
    // An event without any process text still meets every record value (here the daemon's own records).
    const raw = decodeFixture("real-enriched.log").find((e) => !e.process?.title && !e.process?.args && e.audit!.records.some((r) => Object.values(r.fields).some((v) => v && v.length > 3)))!;
    const value = Object.values(raw.audit!.records[0]!.fields).find((v): v is string => v !== null && v.length > 3)!;
    expect(matches(compileOne(ruleYaml(`    kw:\n        - '${value}'\n    condition: kw`, "product: linux\nservice: auditd")), raw)).toBe(true);
  });

  it("network_connection: a connect() to the unspecified address (sshd probing its own port) is no connection", () => {
    // Recorded under Neo23x0's audit rules (test/fixtures/audit/benign-days): sshd connects a socket
    // to 0.0.0.0:2222 and [::]:2222, its own listening port.
    const gz = readFileSync(new URL("../../fixtures/audit/benign-days/neo23x0-day1.log.gz", import.meta.url));
    const events = decodeAuditLines(gunzipSync(gz).toString("utf8").split("\n"));
    const probes = events.filter((e) => e.event.action === "connect" && (e.destination?.ip === "0.0.0.0" || e.destination?.ip === "::"));
    expect(probes.length).toBeGreaterThan(0);
    const r = compileOne(ruleYaml("    sel:\n        Initiated: 'true'\n    condition: sel", "product: linux\ncategory: network_connection"));
    expect(probes.filter((e) => r.source!.applies(e))).toEqual([]);
    // Real connections in the same recording still are (curl to the status page on 127.0.0.1).
    const real = events.filter((e) => e.event.action === "connect" && e.destination?.ip === "127.0.0.1");
    expect(real.length).toBeGreaterThan(0);
    expect(real.every((e) => r.source!.applies(e) && matches(r, e))).toBe(true);
    // hv's own ECS view still has the fact.
    const ecs = compileOne(ruleYaml("    sel:\n        destination.ip: 0.0.0.0\n    condition: sel", "product: hv\nservice: audit"));
    expect(probes.some((e) => matches(ecs, e))).toBe(true);
  });

  it("docs/sigma-mapping.md names every mapped field", () => {
    const doc = readFileSync(new URL("../../../docs/sigma-mapping.md", import.meta.url), "utf8");
    for (const names of Object.values(MAPPED_FIELDS)) for (const f of names) expect(doc).toContain(`\`${f}\``);
  });
});
