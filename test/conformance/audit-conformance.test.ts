// Conformance of the audit decoder on ../shared/data/audit-logs (docs/audit-conformance.md):
// event grouping vs ausearch, field values vs go-libaudit's aucoalesce golden JSON and laurel's
// expected JSON. Skips loudly without the shared data or ausearch — except under CI=true, where
// both must be there (CI gets a copy of shared/ beside the clone).

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  classifyCounts,
  checkAucoalesce,
  checkFileCounts,
  checkLaurel,
  checkSyscallNames,
  commandAvailable,
  findRepoRoot,
  formatCountTable,
  formatFieldReport,
  hvShapes,
  listRawLogs,
  locateAuditLogs,
  parseAusearchOutput,
  splitLines,
  decodeLines,
  unexplainedCount,
  type FieldReport,
  type FileCountReport,
} from "../../bench/conformance-audit.js";

const inCI = process.env.CI === "true";
const repoRoot = findRepoRoot();
const shared = locateAuditLogs(repoRoot);
const haveAusearch = commandAvailable("ausearch", ["--version"]);
const haveAusyscall = commandAvailable("ausyscall", ["x86_64", "0"]);
const missing = [
  shared.found ? undefined : `shared audit logs not found at ${shared.dir}`,
  haveAusearch ? undefined : "ausearch not installed (apt-get install auditd)",
  haveAusyscall ? undefined : "ausyscall not installed (apt-get install auditd)",
].filter((m): m is string => m !== undefined);
const skip = missing.length > 0 && !inCI;
if (missing.length > 0) {
  console.warn(`\n*** audit conformance ${inCI ? "FAILS (CI=true)" : "SKIPPED"}: ${missing.join("; ")} ***\n`);
}

function requireInputs(): void {
  if (missing.length > 0) throw new Error(`audit conformance needs: ${missing.join("; ")}`);
}

function mismatchList(r: FieldReport): string {
  return r.mismatches.map((m) => `${m.file} «${m.test}» ${m.field}: hv=${JSON.stringify(m.hv)} expected=${JSON.stringify(m.expected)}`).join("\n");
}

// The classifier itself, on small hand-written inputs: it must name documented cases and refuse others.
describe("count-difference classifier", () => {
  const login = [
    "type=LOGIN msg=audit(10.000:7): pid=1 uid=0 old-auid=4294967295 auid=0 ses=1 res=1",
    "type=SYSCALL msg=audit(10.000:7): arch=c000003e syscall=1 success=yes exit=1 a0=1 a1=2 a2=3 a3=4 items=0 ppid=1 pid=1 uid=0",
    "type=EOE msg=audit(10.000:7): ",
  ];

  it("names ausearch's split of a serial that starts with LOGIN", () => {
    const ausearch = parseAusearchOutput(["----", "time->x", login[0], "----", "time->x", login[2], login[1]].join("\n"));
    const r = classifyCounts("t", login, ausearch, hvShapes(decodeLines(login)));
    expect(r).toMatchObject({ ausearch: 2, hv: 1, difference: -1, reasons: { "same-serial-split-by-ausearch": 1 } });
  });

  it("calls a regrouping no documented case explains unexplained", () => {
    const lines = [
      "type=SYSCALL msg=audit(10.000:8): arch=c000003e syscall=1 success=yes exit=1 a0=1 a1=2 a2=3 a3=4 items=0 pid=1",
      "type=PATH msg=audit(10.000:8): item=0 name=\"/x\"",
      "type=CWD msg=audit(10.000:8): cwd=\"/\"",
    ];
    const ausearch = parseAusearchOutput(["----", lines[0], "----", lines[1], lines[2]].join("\n"));
    const r = classifyCounts("t", lines, ausearch, hvShapes(decodeLines(lines)));
    expect(r.reasons.unexplained).toBe(1);
  });

  it("accepts a dropped record only for a known cause", () => {
    const lines = ["type=USER_CMD msg=audit(10.000:9): pid=1 uid=0 auid=0 msg='cwd=\"/\" cmd=6C73 res=success'"];
    const r = classifyCounts("t", lines, parseAusearchOutput(""), hvShapes(decodeLines(lines)));
    expect(r.reasons.unexplained).toBe(1);
    const host = [`host=h ${lines[0]}`];
    expect(classifyCounts("t", host, parseAusearchOutput(""), hvShapes(decodeLines(host))).reasons).toEqual({ "dropped-by-ausearch": 1 });
  });

  it("counts a ---- block without records as empty-ausearch-block", () => {
    const r = classifyCounts("t", [], parseAusearchOutput("----\ntime->x\n# a comment\n"), []);
    expect(r).toMatchObject({ ausearch: 1, hv: 0, reasons: { "empty-ausearch-block": 1 } });
  });
});

describe.skipIf(skip)("audit conformance on ../shared/data/audit-logs", () => {
  let counts: FileCountReport[] | undefined;
  const allCounts = (): FileCountReport[] => {
    requireInputs();
    counts ??= listRawLogs(shared.dir).map((f) => checkFileCounts(shared.dir, f));
    return counts;
  };

  it("event counts: every difference from ausearch -if has a documented reason", () => {
    const reports = allCounts();
    expect(reports.length).toBeGreaterThan(50);
    const table = formatCountTable(reports);
    const unexplained = reports.flatMap((r) => r.differences.filter((d) => d.reasons.includes("unexplained")).map((d) => `${r.file} [${d.key}] ${d.detail}`));
    if (unexplained.length > 0) console.log(table);
    expect(unexplained, `unexplained count differences:\n${unexplained.join("\n")}`).toEqual([]);
    expect(unexplainedCount(reports)).toBe(0);
    // The difference the table reports per file is what the reasons add up to.
    for (const r of reports) expect(r.difference).toBe(r.hv - r.ausearch);
  });

  it("hv events --replay (the CLI, end to end) prints what the in-process decoder makes", () => {
    requireInputs();
    const cli = join(repoRoot, "bin", "hv.js");
    const built = existsSync(join(repoRoot, "dist", "src", "cli", "main.js"));
    if (!built) {
      if (inCI) throw new Error("dist/ is missing: run npm run build before the tests");
      console.warn("\n*** CLI conformance check SKIPPED: dist/ not built (npm run build) ***\n");
      return;
    }
    for (const file of ["selinux/python/audit2allow/test.log", "laurel/src/testdata/record-login.txt", "go-libaudit/auparse/testdata/audit-rhel7.log"]) {
      const path = join(shared.dir, file);
      const run = spawnSync(process.execPath, [cli, "events", "--replay", path, "--json"], { encoding: "utf8" });
      expect(run.status, run.stderr).toBe(0);
      const printed = splitLines(run.stdout).map((l) => JSON.parse(l) as Parameters<typeof hvShapes>[0][number]);
      const inProcess = decodeLines(splitLines(readFileSync(path, "utf8")));
      expect(hvShapes(printed)).toEqual(hvShapes(inProcess));
      const report = allCounts().find((r) => r.file === file);
      expect(report?.hv).toBe(printed.length);
    }
  });

  it("syscall names agree with ausyscall for every unenriched SYSCALL", () => {
    const r = checkSyscallNames(allCounts());
    expect(r.tests).toBeGreaterThan(1000);
    expect(r.mismatches, `${formatFieldReport("syscall names", r)}\n${mismatchList(r)}`).toEqual([]);
  });

  it("fields agree with go-libaudit's aucoalesce golden JSON", () => {
    requireInputs();
    const r = checkAucoalesce(shared.dir);
    expect(r.tests).toBeGreaterThan(40);
    for (const f of ["process.pid", "process.exe", "user.auid", "syscall", "tags", "result", "sequence"]) expect(r.perField[f]?.compared ?? 0).toBeGreaterThan(0);
    expect(r.mismatches, `${formatFieldReport("aucoalesce", r)}\n${mismatchList(r)}`).toEqual([]);
  });

  it("fields agree with laurel's expected JSON", () => {
    requireInputs();
    const r = checkLaurel(shared.dir);
    expect(r.tests).toBeGreaterThan(10);
    for (const f of ["pid", "exe", "syscall", "EXECVE.ARGV", "PROCTITLE", "CWD", "PATH[].name"]) expect(r.perField[f]?.compared ?? 0).toBeGreaterThan(0);
    expect(r.mismatches, `${formatFieldReport("laurel", r)}\n${mismatchList(r)}`).toEqual([]);
  });
});
