// `hv doctor` on a host with a real auditd and a one-rule ruleset (program starts only): its audit
// check names the blind detections as `hv rules coverage` does for the same rules, with the same
// fix lines, and doctor exits 1. Needs the host-wide lock (flock /tmp/hv-system.lock): it starts
// auditd and loads a rule.

import { mkdtempSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import type { DoctorReport } from "../../src/cli/doctor-checks.js";
import type { CoverageReport } from "../../src/detectors/sigma/coverage.js";
import { auditctl, startAuditdWhenFree, whyNoAuditd } from "../helpers/auditd.js";
import { runHv } from "../helpers/hv-cli.js";

const dir = mkdtempSync(join(tmpdir(), "hv-doctor-coverage-live-"));
afterAll(async () => rm(dir, { recursive: true, force: true }));
/** The audit rule lines a doctor fix names (its first line says how to load them). */
const fixLines = (fix: string | undefined): string[] => (fix ?? "").split("\n").filter((l) => /^-[aw] /.test(l));

const unavailable = await whyNoAuditd();
if (unavailable) console.warn(`\n*** doctor coverage test (live) ${process.env.CI === "true" ? "FAILS (CI=true)" : "SKIPPED"}: ${unavailable} ***\n`);

describe("hv doctor: audit coverage of the rules the kernel has loaded", () => {
  it.skipIf(unavailable !== undefined && process.env.CI !== "true")("a real auditd with a program-start rule only: blind detections named as `hv rules coverage` names them", { timeout: 300_000 }, async () => {
    // Waiting for the host's one auditd can itself take up to two minutes (startAuditdWhenFree).
    const auditd = await startAuditdWhenFree();
    try {
      await auditctl("-A", "always,exit", "-F", "arch=b64", "-S", "execve", "-k", "exec");
      const r = await runHv(["doctor", "--json"], { stateDir: join(dir, "state-live"), env: { HV_CONFIG: "" }, timeoutMs: 180_000 });
      const report = r.json as DoctorReport;
      expect(report.checks.find((c) => c.name === "auditd")?.status).toBe("ok");
      const check = report.checks.find((c) => c.name === "audit coverage");
      expect(check, r.stdout).toMatchObject({ area: "audit", status: "problem", detail: expect.stringMatching(/^\d+ detections blind, \d+ partial of \d+ with auditctl -l/) });
      // The live rules read as a file would be give the same blind detections.
      const ruleFile = join(dir, "live.rules");
      await writeFile(ruleFile, `${(await execa("auditctl", ["-l"])).stdout}\n`);
      const cli = await runHv(["rules", "coverage", "--audit-rules", ruleFile, "--json"], { stateDir: join(dir, "state-live"), timeoutMs: 60_000 });
      const blind = (JSON.parse(cli.stdout) as CoverageReport).rules.filter((x) => x.status === "blind");
      expect(blind.map((x) => x.title)).toContain("QEMU Process Traced Or Its Memory Poked With ptrace");
      expect(check!.detail.split("; blind: ")[1]!.split("; ")).toEqual(blind.map((x) => x.title));
      expect(fixLines(check!.fix).sort()).toEqual([...new Set(blind.flatMap((x) => x.fix.map((f) => f.line)))].sort());
      expect(r.code).toBe(1);
    } finally {
      await auditd.stop();
    }
  });
});
