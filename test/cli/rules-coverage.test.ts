// `hv rules coverage` as a user runs it (the built CLI): which detections a host's audit rules leave
// blind, the lines that fix each, and the exit codes. The fix lines are checked by using them: the
// same rules with those lines appended leave nothing blind.

import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { CoverageReport } from "../../src/detectors/sigma/coverage.js";
import { runHv } from "../helpers/hv-cli.js";

const dir = mkdtempSync(join(tmpdir(), "hv-coverage-"));
const stateDir = join(dir, "state");
const STIG = ["/usr/share/doc/auditd/examples/rules/10-base-config.rules", "/usr/share/doc/auditd/examples/rules/30-stig.rules"];
const run = (args: string[]) => runHv(["rules", "coverage", ...args], { stateDir, timeoutMs: 60_000 });
const report = (stdout: string): CoverageReport => JSON.parse(stdout) as CoverageReport;

describe("hv rules coverage", () => {
  it("hv's own audit rules leave none of hv's detections blind (exit 0)", async () => {
    const r = await run(["--audit-rules", "rules/audit/hv.rules", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const rep = report(r.stdout);
    expect(rep.rules.length).toBeGreaterThanOrEqual(25);
    expect(rep.rules.filter((x) => x.status !== "visible").map((x) => `${x.title}: ${x.status}`)).toEqual([]);
    expect(rep.summary.blind).toBe(0);
  });

  it("names the blind detections of an execve-only host, with hv.rules lines and their cost (exit 1)", async () => {
    const file = join(dir, "exec-only.rules");
    writeFileSync(file, "-D\n-a always,exit -F arch=b64 -S execve -k exec\n");
    const r = await run(["--audit-rules", file, "--json"]);
    expect(r.code).toBe(1);
    const rep = report(r.stdout);
    const byFile = (name: string) => rep.rules.find((x) => x.file?.endsWith(name))!;
    // program starts are all a command-line rule needs
    expect(byFile("hv_guest_agent_exec.yml").status).toBe("visible");
    // ptrace of qemu needs the syscall: blind, and hv.rules' ptrace lines fix it
    const ptrace = byFile("hv_ptrace_qemu.yml");
    expect(ptrace.status).toBe("blind");
    expect(ptrace.fix.map((f) => f.line)).toEqual(["-a always,exit -F arch=b64 -S ptrace -F a0=0x10 -k hv_ptrace", "-a always,exit -F arch=b64 -S ptrace -F a0=0x4206 -k hv_ptrace"]);
    expect(ptrace.fix[0]!.records).toMatch(/debugger/);
    // the disk-read rule sees copies by command line already, but not the reads themselves
    const disk = byFile("hv_vm_disk_read_non_qemu.yml");
    expect(disk.status).toBe("visible");
    expect(disk.items.find((i) => i.kind === "read")?.visible).toBe(false);
    // the kernel's own records need no rule
    expect(byFile("hv_promiscuous_mode.yml").status).toBe("visible");
  });

  it("the plain text says what to add and what it records", async () => {
    const file = join(dir, "exec-only.rules");
    const r = await run(["--audit-rules", file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^BLIND +QEMU Process Traced/m);
    expect(r.stdout).toContain("add:\n           -a always,exit -F arch=b64 -S ptrace -F a0=0x10 -k hv_ptrace");
    expect(r.stdout).toMatch(/records: every debugger/);
    expect(r.stdout).toMatch(/^\d+ detections with .*: \d+ visible, \d+ partial, \d+ blind, \d+ not assessed$/m);
  });

  it.skipIf(!STIG.every((f) => existsSync(f)))("the lines it proposes for Debian's STIG rules fix every blind detection", async () => {
    const before = report((await run(["--audit-rules", ...STIG, "--json"])).stdout);
    const blind = before.rules.filter((x) => x.status === "blind");
    expect(blind.length).toBeGreaterThan(3);
    for (const b of blind) expect(b.fix.length, b.title).toBeGreaterThan(0);
    const fixes = join(dir, "stig-fixes.rules");
    writeFileSync(fixes, [...new Set(blind.flatMap((b) => b.fix.map((f) => f.line)))].join("\n") + "\n");
    const after = await run(["--audit-rules", ...STIG, fixes, "--json"]);
    expect(after.code, after.stdout.slice(0, 2000)).toBe(0);
    expect(report(after.stdout).rules.filter((x) => x.status === "blind").map((x) => x.title)).toEqual([]);
  });

  it("a rule over libvirt's events needs the libvirt collector, not audit: blind only with --no-libvirt", async () => {
    const rule = join(dir, "undefined.yml");
    writeFileSync(rule, "title: Guest undefined\nid: 2b9e6f1a-4c3d-4e8f-9a7b-1c2d3e4f5a6b\nlogsource:\n    product: hv\n    service: libvirt\ndetection:\n    s:\n        event.action: undefined\n    condition: s\n");
    const empty = join(dir, "none.rules");
    writeFileSync(empty, "-D\n");
    const on = await run(["--audit-rules", empty, "--rules", rule, "--json"]);
    expect(on.code).toBe(0);
    expect(report(on.stdout).rules.map((r) => r.status)).toEqual(["visible"]);
    const off = await run(["--audit-rules", empty, "--rules", rule, "--no-libvirt", "--json"]);
    expect(off.code).toBe(1);
    expect(report(off.stdout).rules.map((r) => r.status)).toEqual(["blind"]);
  });

  it("unreadable rules are exit 2 with the reason; lines it cannot read are listed, not fatal", async () => {
    const missing = await run(["--audit-rules", join(dir, "nope.rules")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.rules/);
    const odd = join(dir, "odd.rules");
    writeFileSync(odd, "-a always,exit -F arch=b64 -S execve -k exec\n-q what\n");
    const r = await run(["--audit-rules", odd, "--json"]);
    expect(report(r.stdout).auditProblems).toEqual([{ line: 2, text: "-q what", reason: "unknown option -q" }]);
  });
});
