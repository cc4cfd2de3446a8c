// `hv doctor`'s audit check judges the loaded audit rules with the model of `hv rules coverage`:
// blind detections are a problem, named in the same words, with the lines of hv.rules that fix
// them (checked by using them: the same rules with those lines added leave nothing blind); partial
// ones a warning; none of either is ok. These read rule files (no lock);
// doctor-coverage-live.test.ts runs `hv doctor` against a real auditd.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { shippedAuditRulesFile, shippedRulesDir } from "../../src/agent/config.js";
import { auditCoverageCheck } from "../../src/cli/doctor-checks.js";
import { formatDoctor } from "../../src/cli/doctor.js";
import { coverageReport, readAuditRuleFiles } from "../../src/cli/rules.js";
import type { CoverageReport } from "../../src/detectors/sigma/coverage.js";
import { runHv } from "../helpers/hv-cli.js";

const dir = mkdtempSync(join(tmpdir(), "hv-doctor-coverage-"));
afterAll(async () => rm(dir, { recursive: true, force: true }));
const STIG = ["/usr/share/doc/auditd/examples/rules/10-base-config.rules", "/usr/share/doc/auditd/examples/rules/30-stig.rules"];
const hasStig = STIG.every((f) => existsSync(f));
const shipped = [shippedRulesDir()];
const coverage = (files: string[], rules = shipped): CoverageReport => coverageReport(readAuditRuleFiles(files), rules, { fixRules: shippedAuditRulesFile(), libvirt: true });
/** The audit rule lines a doctor fix names (its first line says how to load them; a last one may name what no line fixes). */
const fixLines = (fix: string | undefined): string[] => (fix ?? "").split("\n").filter((l) => /^-[aw] /.test(l));

describe("hv doctor: audit coverage", () => {
  it.skipIf(!hasStig)("Debian's STIG rules: the blind detections of `hv rules coverage`, by title, and lines that fix every one", async () => {
    const check = auditCoverageCheck(coverage(STIG), false);
    expect(check).toMatchObject({ area: "audit", name: "audit coverage", status: "problem" });
    // The same verdict as the command a user runs on the same files.
    const cli = await runHv(["rules", "coverage", "--audit-rules", ...STIG, "--json"], { stateDir: join(dir, "state"), timeoutMs: 60_000 });
    expect(cli.code, cli.stderr).toBe(1);
    const report = JSON.parse(cli.stdout) as CoverageReport;
    const blind = report.rules.filter((r) => r.status === "blind");
    expect(blind.length).toBeGreaterThan(0);
    expect(check.detail).toMatch(new RegExp(`^${blind.length} detections blind, ${report.summary.partial} partial of ${report.rules.length} with `));
    expect(check.detail.split("; blind: ")[1]!.split("; ")).toEqual(blind.map((r) => r.title));
    expect(check.fix).toMatch(/^hv setup or hv service install .*then augenrules --load; or add only these lines/);
    const lines = fixLines(check.fix);
    expect(lines.sort()).toEqual([...new Set(blind.flatMap((r) => r.fix.map((f) => f.line)))].sort());
    // hv's ptrace lines are among them (STIG does not record ptrace).
    expect(lines).toContain("-a always,exit -F arch=b64 -S ptrace -F a0=0x10 -k hv_ptrace");
    // Using the fix: STIG with those lines added leaves nothing blind.
    const fixed = join(dir, "stig-fixed.rules");
    writeFileSync(fixed, `${STIG.map((f) => readFileSync(f, "utf8")).join("\n")}\n${lines.join("\n")}\n`);
    const after = auditCoverageCheck(coverage([fixed]), false);
    expect(after.status, after.detail).not.toBe("problem");
    expect(after.detail).toMatch(/none blind|^0 detections blind/);
  });

  it("hv's own rules leave nothing blind or partial: ok", () => {
    const check = auditCoverageCheck(coverage([shippedAuditRulesFile()]), false);
    expect(check.status, check.detail).toBe("ok");
    expect(check.detail).toMatch(/^\d+ visible, 0 not assessed of \d+ detections with .*hv\.rules: none blind$/);
    expect(check.fix).toBeUndefined();
  });

  it("hv's rules installed but not loaded: the fix is to load them", () => {
    const file = join(dir, "exec-only.rules");
    writeFileSync(file, "-D\n-a always,exit -F arch=b64 -S execve -k exec\n");
    const check = auditCoverageCheck(coverage([file]), true);
    expect(check.status).toBe("problem");
    expect(check.fix).toMatch(/^augenrules --load \(hv's rules are installed in rules\.d but not loaded\)/);
    // what a program-start rule cannot see: ptrace of qemu
    expect(check.detail).toContain("QEMU Process Traced Or Its Memory Poked With ptrace");
    // the command-line rules are visible with it: not named
    expect(check.detail).not.toContain("Command Run In A Guest Through The QEMU Guest Agent");
    // the text output keeps the lines under one another
    const text = formatDoctor({ checks: [check], summary: { ok: 0, warn: 0, problem: 1, skip: 0 }, ok: false });
    expect(text).toMatch(/\n {15}-a always,exit -F arch=b64 -S ptrace -F a0=0x10 -k hv_ptrace\n/);
  });

  it.skipIf(!hasStig)("partial only (some paths recorded, none blind): a warning pointing at `hv rules coverage`", () => {
    const one = join(shippedRulesDir(), "hv_domain_xml_written_outside_libvirt.yml");
    const report = coverage(STIG, [one]);
    expect(report.summary).toMatchObject({ blind: 0, partial: 1 });
    const check = auditCoverageCheck(report, false);
    expect(check).toMatchObject({ status: "warn", fix: expect.stringMatching(/hv rules coverage/) });
    expect(check.detail).toMatch(/^0 detections blind, 1 partial of 1 with /);
  });
});
