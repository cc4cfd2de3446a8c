// Decode benchmark: hv's audit decoder (parse + group + normalize) beside ausearch -if, ausearch
// --format csv and laurel on the same file, in the same run. Prints numbers, asserts nothing.
//
//   npm run build && node dist/bench/decode.js [--lines N] [--runs R] [--base DIR] [--json]
//
// Two inputs, each a real log repeated to N lines (default 500 000), serials and times shifted per copy:
//  - syscalls: the committed real recording test/fixtures/audit/benign-session.log (auditd 3.0.9:
//    execs, file opens, connects with SYSCALL, EXECVE, PATH, CWD, PROCTITLE records), which is what
//    a host's audit rules record most;
//  - largest shared: the largest real log in ../shared/data/audit-logs (a SELinux host's AVC denials
//    and USER_* records in an older format), when present.
// hv is timed in a child process of its own, from reading the file to the last event: "stage"
// splits the file in memory and feeds the decoder; "reader" goes through hv's file reader (the
// collector's path: 64 KiB reads, line splitting with byte offsets) as well. Each figure is the
// best of R runs (default 3): wall time, and CPU time (user + system, all threads; a peer's is read
// from /proc/self/stat once it has exited). --base DIR runs DIR's built decoder too (another
// checkout, e.g. main before a change) on the same file.

import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { findProgram } from "../src/events/programs.js";
import { buildInput, largestAuditLog, ROOT } from "./data.js";

interface Args {
  lines: number;
  runs: number;
  base?: string;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { lines: 500_000, runs: 3, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--lines") args.lines = Number(argv[++i]);
    else if (a === "--runs") args.runs = Number(argv[++i]);
    else if (a === "--base") args.base = resolve(argv[++i] ?? "");
    else if (a === "--json") args.json = true;
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: node dist/bench/decode.js [--lines N] [--runs R] [--base DIR] [--json]\n");
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (--lines N, --runs R, --base DIR, --json)`);
  }
  if (!Number.isInteger(args.lines) || args.lines < 1000) throw new Error("--lines must be an integer >= 1000");
  if (!Number.isInteger(args.runs) || args.runs < 1) throw new Error("--runs must be a positive integer");
  if (args.base && !existsSync(decoderModule(args.base))) throw new Error(`--base ${args.base}: no built decoder at ${decoderModule(args.base)} (run npm run build there)`);
  return args;
}

interface Timing {
  wall: number;
  cpu: number;
  events?: number;
  note?: string;
}

function decoderModule(root: string): string {
  return join(root, "dist", "src", "collectors", "audit", "decoder.js");
}

/** Children's user+system seconds so far (those already waited for), from /proc/self/stat. */
function childrenCpu(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  // After "pid (comm) ": state is field 3, cutime and cstime are fields 16 and 17.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** Runs a peer with its output thrown away; `stdinFile` is opened as its standard input (`cmd < file`). */
function timeCommand(cmd: string, args: string[], stdinFile?: string): Timing {
  const stdin = stdinFile === undefined ? "ignore" : openSync(stdinFile, "r");
  const before = childrenCpu();
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: [stdin, "ignore", "ignore"] });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = childrenCpu() - before;
  if (typeof stdin === "number") closeSync(stdin);
  if (r.error) return { wall, cpu, note: r.error.message };
  // ausearch exits 1 when it prints nothing; anything else is worth saying.
  return { wall, cpu, note: r.status === 0 || (cmd === "ausearch" && r.status === 1) ? undefined : `exit ${r.status}` };
}

/** Runs hv's decoder (this build's, or `moduleRoot`'s) over `file` in a child and reads its timing. */
function timeHv(file: string, mode: "stage" | "reader", moduleRoot: string): Timing {
  const r = spawnSync(process.execPath, [process.argv[1]!, "--child", mode, file, moduleRoot], { encoding: "utf8", maxBuffer: 1 << 20 });
  if (r.status !== 0) return { wall: NaN, cpu: NaN, note: `failed: ${r.stderr.slice(0, 300)}` };
  return JSON.parse(r.stdout) as Timing;
}

function best(times: Timing[]): Timing {
  return times.reduce((a, b) => (b.cpu < a.cpu ? b : a));
}

async function child(mode: string, file: string, moduleRoot: string): Promise<void> {
  const { AuditDecoder } = (await import(pathToFileURL(decoderModule(moduleRoot)).href)) as typeof import("../src/collectors/audit/decoder.js");
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const decoder = new AuditDecoder();
  let events = 0;
  if (mode === "stage") {
    const text = readFileSync(file, "utf8");
    let n = 0;
    for (let pos = 0; pos < text.length; ) {
      let nl = text.indexOf("\n", pos);
      if (nl < 0) nl = text.length;
      events += decoder.pushLine(text.slice(pos, nl), ++n).events.length;
      pos = nl + 1;
    }
  } else {
    const { readFileLines } = (await import(pathToFileURL(join(moduleRoot, "dist", "src", "collectors", "audit", "sources", "file.js")).href)) as typeof import("../src/collectors/audit/sources/file.js");
    for await (const line of readFileLines(file, { signal: new AbortController().signal })) {
      events += decoder.pushLine(line.text, line.lineNo, line.pos?.start, line.pos?.end).events.length;
    }
  }
  events += decoder.flush().length;
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ wall, cpu: (cpu.user + cpu.system) / 1e6, events }) + "\n");
}

interface InputResult {
  name: string;
  seed: string;
  lines: number;
  MiB: number;
  rows: Array<{ what: string } & Timing>;
}

function seedLines(file: string): string[] {
  return readFileSync(file, "utf8").split("\n").filter((l) => l.includes("msg=audit("));
}

function measure(name: string, seedFile: string, args: Args, dir: string): InputResult {
  const file = join(dir, `${name.replace(/\W+/g, "-")}.log`);
  writeFileSync(file, buildInput(seedLines(seedFile), args.lines));
  const rows: InputResult["rows"] = [];
  const repeat = (what: string, f: () => Timing): void => {
    rows.push({ what, ...best(Array.from({ length: args.runs }, f)) });
  };
  repeat("hv decode, stage (this build)", () => timeHv(file, "stage", ROOT));
  if (args.base) repeat(`hv decode, stage (${args.base})`, () => timeHv(file, "stage", args.base!));
  repeat("hv decode, through the file reader", () => timeHv(file, "reader", ROOT));
  if (args.base) repeat(`hv decode, through the file reader (${args.base})`, () => timeHv(file, "reader", args.base!));
  if (findProgram("ausearch") !== undefined) {
    repeat("ausearch -if", () => timeCommand("ausearch", ["-if", file]));
    repeat("ausearch -if --format csv", () => timeCommand("ausearch", ["-if", file, "--format", "csv"]));
  } else rows.push({ what: "ausearch: not installed (Debian package auditd)", wall: NaN, cpu: NaN });
  if (findProgram("laurel") !== undefined) {
    // laurel reads records on stdin and writes JSON lines; a config of its own sends them to stdout.
    const config = join(dir, "laurel.toml");
    writeFileSync(config, `directory = "${dir}"\n[auditlog]\nfile = "-"\n`);
    repeat("laurel (records on stdin)", () => timeCommand("laurel", ["-c", config], file));
  } else rows.push({ what: "laurel: not installed (Debian package laurel: bash scripts/install-recording-tools.sh)", wall: NaN, cpu: NaN });
  const seed = seedFile.startsWith(ROOT) ? seedFile.slice(ROOT.length + 1) : seedFile.slice(Math.max(0, seedFile.indexOf("audit-logs")));
  return { name, seed, lines: args.lines, MiB: +(statSync(file).size / 2 ** 20).toFixed(1), rows };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-decode-"));
  const results: InputResult[] = [];
  try {
    results.push(measure("syscalls", join(ROOT, "test", "fixtures", "audit", "benign-session.log"), args, dir));
    const largest = largestAuditLog();
    if (largest.includes("audit-logs")) results.push(measure("largest shared", largest, args, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (args.json) {
    process.stdout.write(JSON.stringify(results) + "\n");
    return;
  }
  const out: string[] = [];
  for (const r of results) {
    out.push(`${r.name}: ${r.lines} lines (${r.MiB} MiB) from ${r.seed}`);
    const hv = r.rows[0]!;
    for (const row of r.rows) {
      const rate = row.events !== undefined ? `  ${Math.round(r.lines / row.wall)} lines/s, ${row.events} events` : "";
      const vs = row === hv || Number.isNaN(row.wall) ? "" : `  (hv stage: ${(hv.wall / row.wall).toFixed(2)}x its wall time)`;
      out.push(`  ${row.what.padEnd(44)} wall ${row.wall.toFixed(2)} s  cpu ${row.cpu.toFixed(2)} s${rate}${vs}${row.note ? `  [${row.note}]` : ""}`);
    }
  }
  process.stdout.write(out.join("\n") + "\n");
}

(process.argv[2] === "--child" ? child(process.argv[3]!, process.argv[4]!, process.argv[5]!) : main()).catch((err: unknown) => {
  process.stderr.write(`bench/decode: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
