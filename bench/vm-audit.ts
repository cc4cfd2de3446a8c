// Runs every risk check over every XML file in ../shared/data/libvirt and prints finding counts
// per check, the files with critical/high findings, skipped documents and timing. Numbers, not
// pass/fail (test/vm/risk-shared.test.ts asserts). Run: npm run build && node dist/bench/vm-audit.js [DIR]
import { readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CHECKS } from "../src/vm/risk-checks.js";
import { auditXml, DomainXmlError, RISK_SEVERITIES, summarize, type DomainReport, type Finding } from "../src/vm/risk.js";
import { readXmlFile } from "../src/vm/risk-source.js";

export function xmlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...xmlFiles(p));
    else if (e.name.endsWith(".xml")) out.push(p);
  }
  return out.sort();
}

export interface SharedRun {
  files: number;
  domains: DomainReport[];
  skipped: { file: string; reason: string }[];
  rejected: { file: string; reason: string }[];
  ms: number;
}

export async function auditDirectory(dir: string): Promise<SharedRun> {
  const run: SharedRun = { files: 0, domains: [], skipped: [], rejected: [], ms: 0 };
  const started = performance.now();
  for (const file of xmlFiles(dir)) {
    run.files++;
    const rel = relative(dir, file);
    try {
      const doc = auditXml((await readXmlFile(file)).xml, rel);
      if (doc.skipped) run.skipped.push({ file: rel, reason: doc.skipped });
      run.domains.push(...doc.domains);
    } catch (err) {
      if (!(err instanceof DomainXmlError)) throw err;
      run.rejected.push({ file: rel, reason: err.message });
    }
  }
  run.ms = performance.now() - started;
  return run;
}

async function main(): Promise<void> {
  const here = fileURLToPath(new URL(".", import.meta.url));
  // dist/bench/ when built, bench/ under tsx: the project root is one or two levels up.
  const root = [resolve(here, ".."), resolve(here, "../..")].find((p) => statSync(join(p, "package.json"), { throwIfNoEntry: false }));
  const dir = process.argv[2] ?? resolve(root ?? ".", "../shared/data/libvirt");
  if (!statSync(dir, { throwIfNoEntry: false })) {
    console.log(`skipped: ${dir} does not exist (the shared data set is not on this machine)`);
    return;
  }
  const run = await auditDirectory(dir);
  const s = summarize(run.domains);
  console.log(`${run.files} files, ${run.domains.length} domains audited, ${run.skipped.length} non-domain documents skipped, ${run.rejected.length} rejected, ${run.ms.toFixed(0)} ms\n`);

  console.log("check                        severity   findings  domains");
  for (const c of CHECKS) {
    const doms = run.domains.filter((d) => d.findings.some((f) => f.check === c.id)).length;
    console.log(`${c.id.padEnd(28)} ${c.severity.padEnd(9)} ${String(s.byCheck[c.id] ?? 0).padStart(9)} ${String(doms).padStart(8)}`);
  }
  console.log(`\nby severity: ${[...RISK_SEVERITIES].reverse().map((v) => `${v} ${s.bySeverity[v]}`).join(", ")}\n`);

  const serious = (f: Finding): boolean => f.severity === "critical" || f.severity === "high";
  console.log("domains with critical/high findings:");
  for (const d of run.domains.filter((x) => x.findings.some(serious))) {
    const checks = [...new Set(d.findings.filter(serious).map((f) => `${f.check}(${f.severity[0]})`))].join(" ");
    console.log(`  ${d.source} [${d.name}]: ${checks}`);
  }
  console.log("\nskipped (not domains):");
  for (const x of run.skipped) console.log(`  ${x.file}: ${x.reason}`);
  console.log("\nrejected (not XML):");
  for (const x of run.rejected) console.log(`  ${x.file}: ${x.reason}`);
  const errs = run.domains.flatMap((d) => d.errors.map((e) => `${d.source} [${d.name}]: ${e}`));
  if (errs.length > 0) console.log(`\ncheck errors:\n  ${errs.join("\n  ")}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
