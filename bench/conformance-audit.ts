// Conformance of hv's audit decoder (parse → coalesce → normalize) against reference tools, on the
// real logs in ../shared/data/audit-logs (see docs/audit-conformance.md):
//
//  a. event grouping vs `ausearch -if FILE` (auditd 3.0.9): every (node, time:serial) key's record
//     groups are compared; every difference gets a named, documented reason or is `unexplained`;
//  b. field values vs go-libaudit's aucoalesce golden JSON (aucoalesce/testdata/*.json.golden);
//  c. field values vs laurel's expected JSON (laurel/src/testdata/record-*.json).
//
// The functions are pure (text in, report out) apart from the few that run ausearch/ausyscall or
// read files, so test/conformance/audit-conformance.test.ts uses the same code as the CLI:
//   node dist/bench/conformance-audit.js [--json]
// It exits 0 with "skipped: … not found" when the shared data is absent, 1 on any unexplained
// difference or field mismatch.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { decodeAuditLines } from "../src/collectors/audit/decoder.js";
import { parseRecord } from "../src/collectors/audit/parse.js";
import { archName } from "../src/collectors/audit/syscalls.js";
import type { HvEvent } from "../src/events/event.js";

// ───────────────────────────── locating the data ─────────────────────────────

/** The repository root: the nearest folder above `from` with a package.json (works from bench/ and dist/bench/). */
export function findRepoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) return resolve(from);
    dir = up;
  }
}

/**
 * `$HV_SHARED_DATA/audit-logs` (HV_SHARED_DATA names the shared `data` folder; pointing it at the
 * audit-logs folder itself works too), else `<repo>/../shared/data/audit-logs`; `found` says whether it is there.
 */
export function locateAuditLogs(repoRoot: string = findRepoRoot(), env: NodeJS.ProcessEnv = process.env): { dir: string; found: boolean } {
  const fromEnv = env.HV_SHARED_DATA;
  const dir = fromEnv
    ? basename(resolve(fromEnv)) === "audit-logs"
      ? resolve(fromEnv)
      : join(resolve(fromEnv), "audit-logs")
    : resolve(repoRoot, "..", "shared", "data", "audit-logs");
  return { dir, found: existsSync(dir) && statSync(dir).isDirectory() };
}

export function commandAvailable(cmd: string, args: string[] = ["--version"]): boolean {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.error === undefined;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

/** Raw logs: *.log and *.txt files that hold at least one `msg=audit(` (the .json/.yaml/.golden/.ref files are expectations). */
export function listRawLogs(auditLogsDir: string): string[] {
  return walk(auditLogsDir)
    .filter((f) => /\.(log|txt)$/.test(f))
    .filter((f) => readFileSync(f, "latin1").includes("msg=audit("))
    .map((f) => relative(auditLogsDir, f))
    .sort();
}

export function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/** Runs hv's decoder in-process over the lines of one log (as `hv events --replay` does). */
export function decodeLines(lines: string[]): HvEvent[] {
  return decodeAuditLines(lines);
}

// ───────────────────────────── a. event counts vs ausearch ─────────────────────────────

export type CountReason =
  | "same-serial-split-by-ausearch"
  | "dropped-by-ausearch"
  | "repeated-serial-split-by-hv"
  | "empty-ausearch-block"
  | "unexplained";

export const COUNT_REASONS: Record<CountReason, string> = {
  "same-serial-split-by-ausearch":
    "one (node, time:serial) is split by ausearch into several events because a record that ausearch treats as a whole event " +
    "(LOGIN, NETFILTER_CFG, PROCTITLE, a user-space record such as SERVICE_START) comes before the kernel's SYSCALL/EOE of the " +
    "same serial; hv keeps one event per serial (the union of ausearch's groups equals hv's group)",
  "dropped-by-ausearch":
    "ausearch does not print these records at all: every record of an event holding an AppArmor AVC (apparmor=\"…\"), " +
    "lines with a host= prefix, a SYSCALL record without a1= (its parser rejects it); hv keeps them",
  "repeated-serial-split-by-hv":
    "the same serial appears twice, each with its own SYSCALL (duplicated log lines); hv makes two events, ausearch merges them",
  "empty-ausearch-block": "ausearch prints a ---- block without any audit record (comment lines in laurel's test files)",
  unexplained: "a difference none of the documented reasons accounts for: a bug in hv or a new deliberate choice to document",
};

/** One event as a grouping: its key and the sorted record types. */
export interface GroupShape {
  /** `node time:serial` (node empty when absent); undefined for an ausearch block without records. */
  key: string | undefined;
  types: string[];
}

export interface KeyDifference {
  key: string;
  reasons: CountReason[];
  ausearch: string[][];
  hv: string[][];
  detail: string;
}

export interface FileCountReport {
  file: string;
  ausearch: number;
  hv: number;
  difference: number;
  reasons: Partial<Record<CountReason, number>>;
  differences: KeyDifference[];
  /** hv's events, for callers that check more (kept out of --json output). */
  events?: HvEvent[];
}

interface RawRecord {
  key: string;
  type: string;
  line: string;
}

/**
 * EOE only marks the end of an event: hv consumes it and does not keep it in audit.records, ausearch
 * prints it. Record types are compared without it.
 */
const EOE = "EOE";

function keyOf(node: string | undefined, time: string, serial: number): string {
  return `${node ?? ""} ${time}:${serial}`;
}

/** Splits `ausearch` default output into its ---- blocks, each with the records it printed. */
export function parseAusearchOutput(text: string): GroupShape[] {
  const groups: GroupShape[] = [];
  let current: { keys: Set<string>; types: string[] } | undefined;
  const close = (): void => {
    if (!current) return;
    const keys = [...current.keys];
    // A block never mixes serials; if one ever did, the sentinel key makes it an unexplained difference.
    const key = keys.length === 0 ? undefined : keys.length === 1 ? keys[0] : `MIXED ${keys.join(" + ")}`;
    groups.push({ key, types: [...current.types].sort() });
  };
  for (const line of splitLines(text)) {
    if (line === "----") {
      close();
      current = { keys: new Set(), types: [] };
      continue;
    }
    if (!current) continue;
    const parsed = parseRecord(line);
    if (!parsed.ok) continue; // time->… lines, comments
    const r = parsed.record;
    current.keys.add(keyOf(r.node, r.time, r.serial));
    if (r.type !== EOE) current.types.push(r.type);
  }
  close();
  return groups;
}

export function runAusearch(file: string): string {
  const r = spawnSync("ausearch", ["-if", file], { encoding: "utf8", maxBuffer: 512 * 1024 * 1024, env: { ...process.env, TZ: "UTC" } });
  if (r.error) throw r.error;
  // Exit status 1 with "<no matches>" on stderr means no event: an empty result, not a failure.
  if (r.status !== 0 && !/no matches/.test(r.stderr)) throw new Error(`ausearch -if ${file}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export function hvShapes(events: HvEvent[]): GroupShape[] {
  return events.map((e) => ({
    key: keyOf(e.audit?.node, e.audit?.time ?? "?", e.audit?.serial ?? -1),
    types: (e.audit?.records ?? []).map((r) => r.type).sort(),
  }));
}

function rawRecords(lines: string[]): RawRecord[] {
  const out: RawRecord[] = [];
  for (const line of lines) {
    const p = parseRecord(line);
    if (p.ok && p.record.type !== EOE) out.push({ key: keyOf(p.record.node, p.record.time, p.record.serial), type: p.record.type, line });
  }
  return out;
}

/** Multiset a − b of strings. */
function minus(a: string[], b: string[]): string[] {
  const rest = [...b];
  const out: string[] = [];
  for (const x of a) {
    const i = rest.indexOf(x);
    if (i >= 0) rest.splice(i, 1);
    else out.push(x);
  }
  return out;
}

function sameMultiset(a: string[], b: string[]): boolean {
  return a.length === b.length && minus(a, b).length === 0;
}

function sameGroups(a: string[][], b: string[][]): boolean {
  return sameMultiset(
    a.map((g) => [...g].sort().join(",")),
    b.map((g) => [...g].sort().join(",")),
  );
}

/** Is this type one ausearch closes an event on when it comes first (user-space / login / netfilter / proctitle)? */
function ausearchStandaloneType(type: string): boolean {
  if (type === "LOGIN" || type === "NETFILTER_CFG" || type === "PROCTITLE") return true;
  const p = parseRecord(`type=${type} msg=audit(0.0:0): `);
  const n = p.ok ? p.record.typeNum : undefined;
  return n !== undefined && ((n >= 1100 && n < 1300) || (n >= 2100 && n < 3000));
}

/**
 * Why ausearch 3.0.9 left a record out, checked on the record's own line and its event; undefined
 * when none of the known cases fits. Each case was reproduced with ausearch on a minimal file:
 *  - an event with an AppArmor AVC (apparmor="…"): ausearch drops the whole event, SYSCALL included;
 *  - a line with a host= prefix (old audispd forwarders): ausearch does not read it;
 *  - a SYSCALL without a1= (edited test records): ausearch's SYSCALL parser rejects it.
 */
export function droppedKind(line: string, eventLines: string[]): string | undefined {
  if (eventLines.some((l) => /\btype=AVC\b/.test(l) && / apparmor=/.test(l))) return "event with an AppArmor AVC";
  if (line.startsWith("host=")) return "host= prefix";
  if (/\btype=SYSCALL\b/.test(line) && !/ a1=/.test(line)) return "SYSCALL without a1=";
  return undefined;
}

/**
 * Compares ausearch's and hv's groupings of one file, key by key, and names the reason of every
 * difference. `raw` are the file's lines (to see what ausearch left out and in which order records came).
 */
export function classifyCounts(file: string, lines: string[], ausearch: GroupShape[], hv: GroupShape[]): FileCountReport {
  const raw = rawRecords(lines);
  const rawByKey = new Map<string, RawRecord[]>();
  for (const r of raw) rawByKey.set(r.key, [...(rawByKey.get(r.key) ?? []), r]);
  const byKey = (gs: GroupShape[]): Map<string, string[][]> => {
    const m = new Map<string, string[][]>();
    for (const g of gs) if (g.key !== undefined) m.set(g.key, [...(m.get(g.key) ?? []), g.types]);
    return m;
  };
  const aByKey = byKey(ausearch);
  const hByKey = byKey(hv);
  const keys = [...new Set([...hByKey.keys(), ...aByKey.keys()])];
  const differences: KeyDifference[] = [];
  const reasons: Partial<Record<CountReason, number>> = {};
  const note = (r: CountReason, n = 1): void => {
    reasons[r] = (reasons[r] ?? 0) + n;
  };

  const empty = ausearch.filter((g) => g.key === undefined).length;
  if (empty > 0) note("empty-ausearch-block", empty);

  for (const key of keys) {
    const A = aByKey.get(key) ?? [];
    const H = hByKey.get(key) ?? [];
    if (sameGroups(A, H)) continue;
    const rawHere = rawByKey.get(key) ?? [];
    const rawTypes = rawHere.map((r) => r.type);
    const aUnion = A.flat();
    const hUnion = H.flat();
    const why: CountReason[] = [];
    const details: string[] = [];

    if (!sameMultiset(hUnion, rawTypes)) {
      why.push("unexplained");
      details.push(`hv's records [${hUnion.sort().join(",")}] are not the file's [${rawTypes.sort().join(",")}]`);
    } else {
      const dropped = minus(rawTypes, aUnion);
      const extraInAusearch = minus(aUnion, rawTypes);
      let hRest = H.map((g) => [...g]);
      if (extraInAusearch.length > 0) {
        why.push("unexplained");
        details.push(`ausearch printed records not in the file: ${extraInAusearch.join(",")}`);
      } else if (dropped.length > 0) {
        const eventLines = rawHere.map((r) => r.line);
        const kinds = dropped.map((t) => {
          const kind = rawHere.filter((r) => r.type === t).map((r) => droppedKind(r.line, eventLines)).find((k) => k !== undefined);
          return { t, kind };
        });
        const unknown = kinds.filter((k) => k.kind === undefined);
        why.push(unknown.length === 0 ? "dropped-by-ausearch" : "unexplained");
        details.push("ausearch dropped " + kinds.map((k) => `${k.t} (${k.kind ?? "no known reason"})`).join(", "));
        for (const t of dropped) {
          // Take the dropped record out of the hv group that holds it; a group left empty was all dropped.
          const g = hRest.find((x) => x.includes(t));
          if (g) g.splice(g.indexOf(t), 1);
        }
        hRest = hRest.filter((g) => g.length > 0);
      }
      if (!why.includes("unexplained") && !sameGroups(A, hRest)) {
        const firstRaw = rawHere.find((r) => aUnion.includes(r.type));
        if (hRest.length === 1 && A.length > 1 && sameMultiset(A.flat(), hRest[0] as string[])) {
          // Verify ausearch's documented behaviour: the serial's first record is one it closes an
          // event on, and the kernel's SYSCALL/EOE come after it in the file.
          const firstType = firstRaw?.type ?? "";
          const kernelLater = rawHere.some((r) => r.type === "SYSCALL" || r.type === "EOE");
          if (firstType !== "SYSCALL" && ausearchStandaloneType(firstType) && kernelLater) {
            why.push("same-serial-split-by-ausearch");
            details.push(`${firstType} comes first; ausearch groups: ${A.map((g) => g.join(",")).join(" | ")}`);
          } else {
            why.push("unexplained");
            details.push(`ausearch split the serial after ${firstType || "?"}, not a documented case`);
          }
        } else if (A.length === 1 && hRest.length > 1 && sameMultiset(hRest.flat(), A[0] as string[])) {
          const syscalls = rawHere.filter((r) => r.type === "SYSCALL").length;
          if (hRest.every((g) => g.filter((t) => t === "SYSCALL").length === 1) && syscalls === hRest.length) {
            why.push("repeated-serial-split-by-hv");
            details.push(`${syscalls} SYSCALL records under one serial`);
          } else {
            why.push("unexplained");
            details.push("hv split the serial without a repeated SYSCALL");
          }
        } else {
          why.push("unexplained");
          details.push("different grouping");
        }
      }
    }
    for (const r of why) note(r);
    differences.push({ key, reasons: why, ausearch: A, hv: H, detail: details.join("; ") });
  }
  return { file, ausearch: ausearch.length, hv: hv.length, difference: hv.length - ausearch.length, reasons, differences };
}

/** Part a for one file: runs ausearch and hv's decoder and classifies. */
export function checkFileCounts(auditLogsDir: string, file: string): FileCountReport {
  const path = join(auditLogsDir, file);
  const lines = splitLines(readFileSync(path, "utf8"));
  const events = decodeLines(lines);
  const report = classifyCounts(file, lines, parseAusearchOutput(runAusearch(path)), hvShapes(events));
  report.events = events;
  return report;
}

export function unexplainedCount(reports: FileCountReport[]): number {
  return reports.reduce((n, r) => n + (r.reasons.unexplained ?? 0), 0);
}

export function formatCountTable(reports: FileCountReport[]): string {
  const rows = reports.map((r) => [
    r.file,
    String(r.ausearch),
    String(r.hv),
    r.difference === 0 ? "0" : r.difference > 0 ? `+${r.difference}` : String(r.difference),
    Object.entries(r.reasons)
      .map(([k, n]) => `${k}×${n}`)
      .join(", "),
  ]);
  const totalA = reports.reduce((n, r) => n + r.ausearch, 0);
  const totalH = reports.reduce((n, r) => n + r.hv, 0);
  const totalReasons: Partial<Record<CountReason, number>> = {};
  for (const r of reports) for (const [k, n] of Object.entries(r.reasons)) totalReasons[k as CountReason] = (totalReasons[k as CountReason] ?? 0) + n;
  const header = ["file", "ausearch", "hv", "diff", "reasons"];
  const total = [
    `TOTAL (${reports.length} files)`,
    String(totalA),
    String(totalH),
    String(totalH - totalA),
    Object.entries(totalReasons)
      .map(([k, n]) => `${k}×${n}`)
      .join(", "),
  ];
  const all = [header, ...rows, total];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").length)));
  const fmt = (row: string[]): string =>
    row.map((c, i) => (i === 1 || i === 2 || i === 3 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  const sep = widths.map((w) => "-".repeat(w)).join("  ");
  const lines = [fmt(header), sep, ...rows.map(fmt), sep, fmt(total)];
  const detail: string[] = [];
  for (const r of reports) {
    for (const d of r.differences) {
      detail.push(`  ${r.file} [${d.key.trim()}] ${d.reasons.join("+")}: ${d.detail}`);
    }
  }
  if (detail.length > 0) lines.push("", "differences by key:", ...detail);
  return lines.join("\n");
}

// ───────────────────────────── field comparison helpers ─────────────────────────────

export type FieldSource = "aucoalesce" | "laurel" | "ausyscall";

export interface FieldMismatch {
  source: FieldSource;
  file: string;
  test: string;
  field: string;
  hv: unknown;
  expected: unknown;
}

/** A value not compared on purpose (a documented representational or selection difference). */
export interface FieldSkip {
  source: FieldSource;
  file: string;
  test: string;
  field: string;
  reason: string;
}

export interface FieldReport {
  tests: number;
  perField: Record<string, { compared: number; agreed: number }>;
  mismatches: FieldMismatch[];
  skipped: FieldSkip[];
}

function newReport(): FieldReport {
  return { tests: 0, perField: {}, mismatches: [], skipped: [] };
}

function mergeReports(a: FieldReport, b: FieldReport): FieldReport {
  const perField = { ...a.perField };
  for (const [f, c] of Object.entries(b.perField)) {
    const prev = perField[f] ?? { compared: 0, agreed: 0 };
    perField[f] = { compared: prev.compared + c.compared, agreed: prev.agreed + c.agreed };
  }
  return { tests: a.tests + b.tests, perField, mismatches: [...a.mismatches, ...b.mismatches], skipped: [...a.skipped, ...b.skipped] };
}

class Comparer {
  constructor(
    readonly report: FieldReport,
    readonly source: FieldSource,
    readonly file: string,
    readonly test: string,
  ) {}

  /** Compares when the reference has a value; values are compared as JSON after the caller's normalization. */
  check(field: string, hv: unknown, expected: unknown): void {
    if (expected === undefined) return;
    const c = (this.report.perField[field] ??= { compared: 0, agreed: 0 });
    c.compared++;
    if (JSON.stringify(hv) === JSON.stringify(expected)) c.agreed++;
    else this.report.mismatches.push({ source: this.source, file: this.file, test: this.test, field, hv, expected });
  }

  skip(field: string, reason: string): void {
    this.report.skipped.push({ source: this.source, file: this.file, test: this.test, field, reason });
  }
}

const UNSET = "4294967295";

function str(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return String(v);
}

/** File mode as a number: "0100755", "100755", "0o100755", "0755", "6755" are all octal. */
function octal(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v).replace(/^0o/, "");
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : undefined;
}

function resolvedPath(name: string, cwd: string | undefined): string {
  if (name.startsWith("/") || !cwd) return name;
  const out: string[] = [];
  for (const p of `${cwd}/${name}`.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return "/" + out.join("/");
}

const syscallTables = new Map<string, Map<number, string> | undefined>();

/** Syscall number → name from auditd's own `ausyscall ARCH --dump` (an independent reference to hv's tables). */
export function ausyscallName(arch: string, num: number): string | undefined {
  if (!syscallTables.has(arch)) {
    const r = spawnSync("ausyscall", [arch, "--dump"], { encoding: "utf8" });
    if (r.error || r.status !== 0) syscallTables.set(arch, undefined);
    else {
      const m = new Map<number, string>();
      for (const line of splitLines(r.stdout)) {
        const [n, name] = line.split("\t");
        if (n !== undefined && name !== undefined && /^\d+$/.test(n)) m.set(Number(n), name);
      }
      syscallTables.set(arch, m);
    }
  }
  return syscallTables.get(arch)?.get(num);
}

/**
 * hv's syscall names (its generated x86_64/i386/aarch64 tables) against auditd's `ausyscall`, for
 * every SYSCALL in the raw logs (`events` from part a). Unenriched records only: an ENRICHED
 * record's name is auditd's own and is taken as written.
 */
export function checkSyscallNames(reports: FileCountReport[]): FieldReport {
  const report = newReport();
  const missingTable = new Map<string, number>();
  for (const r of reports) {
    for (const e of r.events ?? []) {
      const sc = e.audit?.records.find((x) => x.type === "SYSCALL");
      const arch = sc?.fields.arch;
      const num = sc?.fields.syscall;
      if (!sc || !arch || !num || !/^\d+$/.test(num) || sc.enriched?.SYSCALL) continue;
      const label = archName(arch);
      if (label === arch) continue; // not an AUDIT_ARCH_* constant (hand-made test data: arch=b64, arch=14)
      const expected = ausyscallName(label, Number(num));
      if (expected === undefined) continue;
      const cmp = new Comparer(report, "ausyscall", r.file, `${e.audit?.time}:${e.audit?.serial}`);
      report.tests++;
      if (e.audit?.syscall === num) {
        missingTable.set(label, (missingTable.get(label) ?? 0) + 1);
        continue;
      }
      cmp.check(`syscall(${label})`, e.audit?.syscall, expected);
    }
  }
  for (const [label, n] of missingTable) {
    report.skipped.push({ source: "ausyscall", file: "*", test: `${n} events`, field: `syscall(${label})`, reason: `hv has no syscall table for ${label} (keeps the number)` });
  }
  return report;
}

// ───────────────────────────── b. aucoalesce golden JSON ─────────────────────────────

interface GoldenEvent {
  "@timestamp"?: string;
  sequence?: number;
  result?: string;
  session?: string;
  tags?: string[];
  process?: { pid?: string; ppid?: string; exe?: string; name?: string; args?: string[]; cwd?: string; title?: string };
  user?: { ids?: Record<string, string> };
  file?: { path?: string; inode?: string; mode?: string; uid?: string; gid?: string; device?: string };
  data?: Record<string, string>;
  source?: { ip?: string; port?: string };
  destination?: { ip?: string; port?: string };
}

/** hv user ids: the kernel's "no id" (4294967295) is what aucoalesce prints as "unset"; hv omits an unset auid/session. */
function hvId(v: string | undefined, absentMeansUnset: boolean): string | undefined {
  if (v === undefined) return absentMeansUnset ? "unset" : undefined;
  return v === UNSET ? "unset" : v;
}

/** aucoalesce's result is success/fail/unknown; hv's event.outcome is success/failure/unknown. */
function goldenOutcome(r: string | undefined): string | undefined {
  if (r === undefined) return undefined;
  return r === "fail" ? "failure" : r;
}

export function compareAucoalesce(file: string, yamlText: string, goldenText: string): FieldReport {
  const report = newReport();
  const doc = parseYaml(yamlText) as { tests?: Record<string, string> };
  const golden = JSON.parse(goldenText) as Array<{ test_name: string; event: GoldenEvent }>;
  const expected = new Map(golden.map((g) => [g.test_name, g.event]));
  for (const [name, text] of Object.entries(doc.tests ?? {})) {
    const g = expected.get(name);
    const cmp = new Comparer(report, "aucoalesce", file, name);
    if (!g) {
      cmp.skip("*", "no golden event for this test");
      continue;
    }
    report.tests++;
    const events = decodeLines(splitLines(text).filter((l) => l.trim().length > 0));
    // aucoalesce makes one event of all a test's lines; so must hv.
    cmp.check("events", events.length, 1);
    const e = events[0];
    if (!e) continue;
    compareGoldenEvent(cmp, e, g);
  }
  return report;
}

function compareGoldenEvent(cmp: Comparer, e: HvEvent, g: GoldenEvent): void {
  cmp.check("sequence", e.event.sequence, g.sequence);
  // Timestamps compared as instants: aucoalesce trims trailing zeros of the milliseconds ("19.05Z").
  cmp.check("@timestamp", Date.parse(e["@timestamp"]), g["@timestamp"] === undefined ? undefined : Date.parse(g["@timestamp"]));
  cmp.check("result", e.event.outcome, goldenOutcome(g.result));
  cmp.check("session", hvId(e.audit?.session, true), g.session);
  const rawKey = e.audit?.records.find((r) => r.fields.key !== undefined)?.fields.key ?? "";
  if (/^\(null\)[A-Z]+=/.test(rawKey)) {
    // The test's ENRICHED line lost its 0x1d separator in the YAML ("key=(null)ARCH=x86_64"): hv
    // reads one key "(null)ARCH=x86_64", aucoalesce "x86_64"; neither is the rule's key (none).
    cmp.skip("tags", `input lost the ENRICHED 0x1d separator (key=${rawKey})`);
  } else {
    // aucoalesce strips a "key=" prefix from a rule key (key="key=net" → net); hv keeps the
    // kernel's text. Compared after the same stripping.
    cmp.check("tags", (e.audit?.key ?? []).map((k) => k.replace(/^key=/, "")), g.tags ?? []);
  }
  const p = e.process ?? {};
  const gp = g.process ?? {};
  cmp.check("process.pid", str(p.pid), gp.pid);
  cmp.check("process.ppid", str(p.ppid), gp.ppid);
  cmp.check("process.exe", p.executable, gp.exe);
  cmp.check("process.name", p.name, gp.name);
  cmp.check("process.args", p.args, gp.args);
  cmp.check("process.cwd", p.working_directory, gp.cwd);
  cmp.check("process.title", p.title, gp.title);
  const ids = g.user?.ids ?? {};
  cmp.check("user.uid", hvId(e.user?.id, false), ids.uid);
  cmp.check("user.euid", hvId(e.user?.effective?.id, false), ids.euid);
  cmp.check("user.auid", hvId(e.user?.audit?.id, true), ids.auid);
  const sc = g.data?.syscall;
  if (sc !== undefined) cmp.check("syscall", e.audit?.syscall, sc);

  const gf = g.file;
  if (gf?.path !== undefined) {
    const f = e.file;
    // aucoalesce takes the PATH item its syscall table names (item 0 unless a hint says otherwise),
    // hv the first CREATE item, else the first non-PARENT one (normalize.ts fileOf). When they pick
    // different items, the values are still checked against hv's raw PATH record of aucoalesce's item.
    // aucoalesce's item: the PATH record with its path (and its inode, when it names one).
    const paths = (e.audit?.records ?? []).filter((r) => r.type === "PATH");
    const named = paths.filter((r) => resolvedPath(r.fields.name ?? "", e.process?.working_directory) === gf.path || r.fields.name === gf.path);
    const item = named.find((r) => gf.inode === undefined || r.fields.inode === gf.inode) ?? named[0];
    if (f?.path === gf.path && (gf.inode === undefined || f.inode === gf.inode)) {
      cmp.check("file.path", f.path, gf.path);
      compareFileMeta(cmp, "file", f, gf);
    } else {
      if (!item) {
        cmp.check("file.path", f?.path, gf.path);
      } else {
        const hvItem = paths.find((r) => r.fields.name === f?.path || resolvedPath(r.fields.name ?? "", e.process?.working_directory) === f?.path);
        cmp.skip(
          "file.path",
          `aucoalesce chose PATH item ${item.fields.item ?? "?"} (${gf.path}), hv chose item ${hvItem?.fields.item ?? "?"} (${f?.path ?? "none"}, ${nameTypeOf(hvItem)})`,
        );
        compareFileMeta(cmp, "path-record", { inode: item.fields.inode ?? undefined, mode: item.fields.mode ?? undefined, uid: item.fields.ouid ?? undefined, gid: item.fields.ogid ?? undefined }, gf);
      }
    }
    // aucoalesce's file.device is the PATH record's rdev (the device a device node stands for); hv's is dev.
    cmp.skip("file.device", "aucoalesce file.device is rdev, hv file.device is dev");
  }

  for (const side of ["source", "destination"] as const) {
    const ge = g[side];
    if (!ge) continue;
    cmp.check(`${side}.ip`, e[side]?.ip, ge.ip);
    cmp.check(`${side}.port`, str(e[side]?.port), ge.port);
  }
}

function nameTypeOf(r: { fields: Record<string, string | null> } | undefined): string {
  return r?.fields.nametype ?? r?.fields.objtype ?? "?";
}

function compareFileMeta(
  cmp: Comparer,
  prefix: string,
  f: { inode?: string; mode?: string; uid?: string; gid?: string },
  gf: NonNullable<GoldenEvent["file"]>,
): void {
  cmp.check(`${prefix}.inode`, f.inode, gf.inode);
  // aucoalesce prints only the permission bits (mode & 07777: "0755", "6755"); hv keeps the
  // kernel's full octal mode ("0100755"): compare permission bits as numbers.
  const hvMode = octal(f.mode);
  cmp.check(`${prefix}.mode`, hvMode === undefined ? undefined : hvMode & 0o7777, octal(gf.mode));
  cmp.check(`${prefix}.uid`, f.uid, gf.uid);
  cmp.check(`${prefix}.gid`, f.gid, gf.gid);
}

/** Part b over every *.yaml / *.json.golden pair in go-libaudit/aucoalesce/testdata. */
export function checkAucoalesce(auditLogsDir: string): FieldReport {
  const dir = join(auditLogsDir, "go-libaudit", "aucoalesce", "testdata");
  let report = newReport();
  if (!existsSync(dir)) return report;
  for (const y of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
    const golden = join(dir, y.replace(/\.yaml$/, ".json.golden"));
    if (!existsSync(golden)) continue;
    const rel = relative(auditLogsDir, join(dir, y));
    report = mergeReports(report, compareAucoalesce(rel, readFileSync(join(dir, y), "utf8"), readFileSync(golden, "utf8")));
  }
  return report;
}

// ───────────────────────────── c. laurel expected JSON ─────────────────────────────

type LaurelRecord = Record<string, unknown>;
type LaurelEvent = Record<string, unknown> & { ID: string; NODE?: string };

/** laurel writes audit's "no value" key=(null) as JSON null; hv leaves the key out of audit.key. */
function laurelKey(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  if (v === null) return [];
  return String(v).split("\u0001");
}

/** laurel's arch is "0xc000003e"; hv's raw field is "c000003e" (hv's audit.arch is the name). */
function laurelArch(v: unknown): string | undefined {
  return typeof v === "string" ? v.replace(/^0x/, "") : undefined;
}

function laurelOutcome(v: unknown): string | undefined {
  if (v === "yes") return "success";
  if (v === "no") return "failure";
  return undefined;
}

export function compareLaurel(file: string, txt: string, json: string): FieldReport {
  const report = newReport();
  const events = decodeLines(splitLines(txt));
  const byId = new Map<string, HvEvent>();
  for (const e of events) if (e.audit) byId.set(`${e.audit.time}:${e.audit.serial}`, e);
  for (const line of splitLines(json).filter((l) => l.trim().length > 0)) {
    const l = JSON.parse(line) as LaurelEvent;
    const cmp = new Comparer(report, "laurel", file, l.ID);
    report.tests++;
    const e = byId.get(l.ID);
    cmp.check("event", e === undefined ? "missing" : "present", "present");
    if (!e) continue;
    cmp.check("node", e.audit?.node, l.NODE);
    compareLaurelEvent(cmp, e, l);
  }
  return report;
}

function compareLaurelEvent(cmp: Comparer, e: HvEvent, l: LaurelEvent): void {
  const sc = l.SYSCALL as LaurelRecord | undefined;
  // Without a SYSCALL, hv's process/user come from the event's first record (URINGOP, …).
  const primary = sc ?? firstLaurelRecord(l, e.audit?.type);
  if (primary) {
    cmp.check("pid", e.process?.pid, primary.pid);
    cmp.check("ppid", e.process?.ppid, primary.ppid);
    cmp.check("uid", e.user?.id, str(primary.uid));
    cmp.check("euid", e.user?.effective?.id, str(primary.euid));
    // hv leaves an unset auid (4294967295) out of user.audit.
    const auid = str(primary.auid);
    cmp.check("auid", e.user?.audit?.id, auid === UNSET ? undefined : auid);
    cmp.check("exe", e.process?.executable, primary.exe);
    // laurel keeps comm as written; hv's process.name is comm (only when comm is absent, basename(exe)).
    cmp.check("comm", e.process?.name, primary.comm);
    cmp.check("key", e.audit?.key ?? [], laurelKey(primary.key));
    cmp.check("success", e.event.outcome, laurelOutcome(primary.success));
    cmp.check("exit", e.audit?.exit, primary.exit);
  }
  if (sc) {
    const raw = e.audit?.records.find((r) => r.type === "SYSCALL")?.fields;
    cmp.check("arch", raw?.arch, laurelArch(sc.arch));
    if (typeof sc.ARCH === "string") cmp.check("ARCH", e.audit?.arch, sc.ARCH);
    // The syscall name: laurel's own when the log was ENRICHED, else auditd's ausyscall table.
    const num = Number(sc.syscall);
    const archLabel = archName(laurelArch(sc.arch) ?? "");
    const expectedName = typeof sc.SYSCALL === "string" ? sc.SYSCALL : ausyscallName(archLabel, num);
    if (e.audit?.syscall === String(num) && typeof sc.SYSCALL !== "string" && expectedName !== undefined) {
      // hv has syscall tables for x86_64, i386 and aarch64 only; elsewhere it keeps the number.
      cmp.skip("syscall", `hv has no syscall table for ${archLabel} (keeps ${num}; ausyscall says ${expectedName})`);
    } else {
      cmp.check("syscall", e.audit?.syscall, expectedName);
    }
  }
  const execve = l.EXECVE as { ARGV?: unknown[] } | undefined;
  if (execve?.ARGV) cmp.check("EXECVE.ARGV", e.process?.args, execve.ARGV.map(String));
  const cwd = l.CWD as { cwd?: string } | undefined;
  if (cwd) cmp.check("CWD", e.process?.working_directory, cwd.cwd);
  const title = l.PROCTITLE as { ARGV?: unknown[] } | undefined;
  // hv joins proctitle's NUL-separated arguments with spaces.
  if (title?.ARGV) cmp.check("PROCTITLE", e.process?.title, title.ARGV.map(String).join(" "));
  const paths = l.PATH as LaurelRecord[] | undefined;
  if (paths) {
    const hvPaths = (e.audit?.records ?? []).filter((r) => r.type === "PATH").map((r) => r.fields);
    cmp.check("PATH[].name", hvPaths.map((p) => p.name), paths.map((p) => p.name));
    paths.forEach((p, i) => {
      const h = hvPaths[i] ?? {};
      cmp.check("PATH[].inode", h.inode, str(p.inode));
      // laurel prints modes as "0o100755"; hv keeps the record's octal text ("0100755" or "100755").
      cmp.check("PATH[].mode", octal(h.mode), octal(p.mode));
      cmp.check("PATH[].ouid", h.ouid, str(p.ouid));
      cmp.check("PATH[].ogid", h.ogid, str(p.ogid));
    });
    // hv's file is one of the PATH items (resolved against the cwd when relative).
    if (e.file?.path !== undefined) {
      const names = paths.map((p) => resolvedPath(String(p.name), cwd?.cwd));
      cmp.check("file.path∈PATH", names.includes(e.file.path), true);
    }
  }
}

function firstLaurelRecord(l: LaurelEvent, type: string | undefined): LaurelRecord | undefined {
  if (!type) return undefined;
  const v = l[type];
  if (Array.isArray(v)) return v[0] as LaurelRecord | undefined;
  if (v && typeof v === "object") return v as LaurelRecord;
  return undefined;
}

/** Part c over every laurel/src/testdata/record-*.txt that has a record-*.json beside it. */
export function checkLaurel(auditLogsDir: string): FieldReport {
  const dir = join(auditLogsDir, "laurel", "src", "testdata");
  let report = newReport();
  if (!existsSync(dir)) return report;
  for (const t of readdirSync(dir).filter((f) => /^record-.*\.txt$/.test(f)).sort()) {
    const json = join(dir, t.replace(/\.txt$/, ".json"));
    if (!existsSync(json)) continue;
    const rel = relative(auditLogsDir, join(dir, t));
    report = mergeReports(report, compareLaurel(rel, readFileSync(join(dir, t), "utf8"), readFileSync(json, "utf8")));
  }
  return report;
}

export function formatFieldReport(title: string, r: FieldReport): string {
  const lines = [`${title}: ${r.tests} events compared`];
  const fields = Object.entries(r.perField).sort(([a], [b]) => a.localeCompare(b));
  const w = Math.max(5, ...fields.map(([f]) => f.length));
  for (const [f, c] of fields) lines.push(`  ${f.padEnd(w)}  ${String(c.agreed).padStart(4)}/${String(c.compared).padEnd(4)}${c.agreed === c.compared ? "" : "  MISMATCH"}`);
  const totalC = fields.reduce((n, [, c]) => n + c.compared, 0);
  const totalA = fields.reduce((n, [, c]) => n + c.agreed, 0);
  lines.push(`  ${"TOTAL".padEnd(w)}  ${String(totalA).padStart(4)}/${totalC}`);
  if (r.mismatches.length > 0) {
    lines.push("  mismatches:");
    for (const m of r.mismatches) lines.push(`    ${m.file} «${m.test}» ${m.field}: hv=${JSON.stringify(m.hv)} expected=${JSON.stringify(m.expected)}`);
  }
  if (r.skipped.length > 0) {
    lines.push("  not compared (documented differences):");
    for (const s of r.skipped) lines.push(`    ${s.file} «${s.test}» ${s.field}: ${s.reason}`);
  }
  return lines.join("\n");
}

// ───────────────────────────── CLI ─────────────────────────────

export interface ConformanceResult {
  auditLogs: string;
  counts: FileCountReport[];
  syscalls: FieldReport;
  aucoalesce: FieldReport;
  laurel: FieldReport;
  ok: boolean;
}

export function runConformance(auditLogsDir: string): ConformanceResult {
  const counts = listRawLogs(auditLogsDir).map((f) => checkFileCounts(auditLogsDir, f));
  const syscalls = checkSyscallNames(counts);
  const aucoalesce = checkAucoalesce(auditLogsDir);
  const laurel = checkLaurel(auditLogsDir);
  const ok = unexplainedCount(counts) === 0 && [syscalls, aucoalesce, laurel].every((r) => r.mismatches.length === 0);
  return { auditLogs: auditLogsDir, counts, syscalls, aucoalesce, laurel, ok };
}

export function main(argv: string[] = process.argv.slice(2)): number {
  const json = argv.includes("--json");
  const { dir, found } = locateAuditLogs();
  if (!found) {
    console.log(`skipped: shared audit logs not found at ${dir} (set HV_SHARED_DATA to the shared data folder)`);
    return 0;
  }
  if (!commandAvailable("ausearch", ["--version"])) {
    console.log("skipped: ausearch not found (install auditd)");
    return 0;
  }
  const result = runConformance(dir);
  if (json) {
    const counts = result.counts.map(({ events: _events, ...rest }) => rest);
    console.log(JSON.stringify({ ...result, counts }, null, 2));
  } else {
    console.log(`audit conformance on ${dir}\n`);
    console.log("a. events per file: hv events --replay vs ausearch -if (---- blocks)\n");
    console.log(formatCountTable(result.counts));
    console.log("\nreasons:");
    for (const [k, v] of Object.entries(COUNT_REASONS)) console.log(`  ${k}: ${v}`);
    console.log("\n" + formatFieldReport("a'. syscall names vs ausyscall (unenriched SYSCALL records of the raw logs)", result.syscalls));
    console.log("\nb. " + formatFieldReport("fields vs go-libaudit aucoalesce golden JSON", result.aucoalesce));
    console.log("\nc. " + formatFieldReport("fields vs laurel expected JSON", result.laurel));
    console.log(`\n${result.ok ? "OK" : "FAILED"}: ${unexplainedCount(result.counts)} unexplained count differences, ${result.syscalls.mismatches.length + result.aucoalesce.mismatches.length + result.laurel.mismatches.length} field mismatches`);
  }
  return result.ok ? 0 : 1;
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) process.exitCode = main();
