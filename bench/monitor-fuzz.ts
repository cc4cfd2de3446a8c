// Hostile-input benchmark: 1M fuzzed audit lines through the real `hv monitor --replay` (parse,
// group, normalize, store, Sigma rules, alerts, playbooks in monitor mode), in a process of its
// own, with its peak RSS; beside it in the same run, `hv events --replay` (the decoder alone) and
// ausearch on the same file. Prints numbers, asserts nothing.
//
//   npm run build && node dist/bench/monitor-fuzz.js [--lines 1000000] [--base DIR] [--json]
//
// --base DIR runs DIR/bin/hv.js (another checkout, built) on the same file too, as a peer.
// Input: the largest real audit log (bench/data.ts) repeated with shifted serials and times, then
// fuzzed with a fixed seed: about one line in five has a field value replaced by hostile text
// (control characters, escape sequences, long runs, bad hex), is cut short, gets a bogus record
// type or becomes binary junk — malformed lines hv must count and survive.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildInput, ROOT, seedLog } from "./data.js";

interface Args {
  lines: number;
  json: boolean;
  base?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { lines: 1_000_000, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--lines") args.lines = Number(argv[++i]);
    else if (a === "--json") args.json = true;
    else if (a === "--base") args.base = argv[++i];
    else throw new Error(`unknown argument ${a} (--lines N, --base DIR, --json)`);
  }
  if (!Number.isInteger(args.lines) || args.lines < 1000) throw new Error("--lines must be an integer >= 1000");
  return args;
}

/** mulberry32: the same fuzz every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE = ["\u001b[2J\u001b]0;pwned\u0007", "../../../etc/passwd", "A".repeat(3000), "ZZ", "\u0000", "(null)", '"unterminated', "'a=1 b=", "%s%n", "\u202eevil", "9".repeat(40)];

function fuzz(lines: string[], seed: number): string[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  return lines.map((line) => {
    const x = r();
    if (x > 0.2) return line;
    if (x < 0.08) return line.replace(/ (\w+)=("[^"]*"|\S+)/, (_m, k: string) => ` ${k}=${pick(HOSTILE)}`);
    if (x < 0.12) return line.slice(0, Math.floor(r() * line.length));
    if (x < 0.15) return line.replace(/^(node=\S+ )?type=\S+/, `$1type=${pick(["<script>", "SYS\u001bCALL", "UNKNOWN[x]", "lower_case"])}`);
    if (x < 0.18) return Array.from({ length: 1 + Math.floor(r() * 200) }, () => String.fromCharCode(Math.floor(r() * 256))).join("").replace(/\n/g, " ");
    return `${line} ${pick(HOSTILE)}=${pick(HOSTILE)}`;
  });
}

/** Runs a command with a preload that writes the process's peak RSS at exit. */
function measured(cmd: string, args: string[], dir: string, env: Record<string, string> = {}): { seconds: number; maxRssMiB?: number; code: number | null; stderr: string } {
  const preload = join(dir, "rusage.mjs");
  const out = join(dir, `rusage-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(preload, `import fs from "node:fs";\nprocess.on("exit", () => { fs.writeFileSync(process.env.HV_BENCH_RUSAGE, JSON.stringify(process.resourceUsage())); });\n`);
  const node = cmd === "node";
  const t0 = process.hrtime.bigint();
  const r = spawnSync(node ? process.execPath : cmd, node ? ["--import", preload, ...args] : args, {
    stdio: ["ignore", "ignore", "pipe"],
    maxBuffer: 1 << 28,
    env: { ...process.env, LC_ALL: "C", HV_BENCH_RUSAGE: out, ...env },
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const usage = existsSync(out) ? (JSON.parse(readFileSync(out, "utf8")) as { maxRSS: number }) : undefined;
  return { seconds, ...(usage ? { maxRssMiB: Math.round(usage.maxRSS / 1024) } : {}), code: r.status, stderr: String(r.stderr ?? "") };
}

function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-monitor-fuzz-"));
  try {
    const seed = seedLog();
    const text = fuzz(buildInput(seed.lines, args.lines).split("\n").slice(0, args.lines), 14).join("\n") + "\n";
    const file = join(dir, "fuzzed.log");
    writeFileSync(file, text);
    const mb = statSync(file).size / 1e6;
    const runs: Array<{ name: string; seconds: number; linesPerSecond: number; maxRssMiB?: number; note?: string }> = [];
    const monitor = (name: string, hv: string): void => {
      const r = measured("node", [hv, "monitor", "--replay", file, "--no-libvirt", "--json", "--state-dir", join(dir, `state-${runs.length}`)], dir);
      const summary = /^\S+: (\d+) lines, (\d+) records, (\d+) events, (\d+) malformed/m.exec(r.stderr);
      const alerts = /^(\d+) alerts from/m.exec(r.stderr);
      runs.push({
        name,
        seconds: r.seconds,
        linesPerSecond: Math.round(args.lines / r.seconds),
        ...(r.maxRssMiB !== undefined ? { maxRssMiB: r.maxRssMiB } : {}),
        note: summary ? `${summary[3]} events, ${summary[4]} malformed lines, ${alerts?.[1] ?? "?"} alerts, exit ${r.code}` : `exit ${r.code}: ${r.stderr.slice(-300)}`,
      });
    };
    monitor("hv monitor --replay (this checkout)", join(ROOT, "bin", "hv.js"));
    if (args.base) monitor(`hv monitor --replay (${args.base})`, join(args.base, "bin", "hv.js"));
    const events = measured("node", [join(ROOT, "bin", "hv.js"), "events", "--replay", file, "--json"], dir);
    runs.push({ name: "peer: hv events --replay (decoder only)", seconds: events.seconds, linesPerSecond: Math.round(args.lines / events.seconds), ...(events.maxRssMiB !== undefined ? { maxRssMiB: events.maxRssMiB } : {}) });
    if (hasCommand("ausearch")) {
      const au = measured("ausearch", ["-if", file, "--format", "csv"], dir);
      runs.push({ name: "peer: ausearch -if --format csv", seconds: au.seconds, linesPerSecond: Math.round(args.lines / au.seconds), note: `exit ${au.code}` });
    }
    const result = { lines: args.lines, mb: +mb.toFixed(1), seed: seed.name, runs };
    if (args.json) {
      process.stdout.write(JSON.stringify(result) + "\n");
      return;
    }
    process.stdout.write(`hostile-input benchmark: ${args.lines} fuzzed audit lines (${result.mb} MB, seeded from ${seed.name})\n`);
    for (const r of runs) {
      process.stdout.write(`  ${r.name.padEnd(42)} ${String(r.linesPerSecond).padStart(8)} lines/s  ${r.seconds.toFixed(1).padStart(6)} s${r.maxRssMiB !== undefined ? `  peak RSS ${r.maxRssMiB} MiB` : ""}${r.note ? `  (${r.note})` : ""}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
