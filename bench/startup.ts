// How long `hv` takes to start and do a trivial thing, beside peers measured in the same run:
// `node -e 1` (the floor for any Node program) and `virsh` (what a script looping over VMs would
// otherwise call). Each command runs N times, interleaved so a burst of load elsewhere hits all of
// them alike; wall time per run (median, p90, min) and the CPU time the children used. Numbers,
// not pass/fail: issue 19 asks for ≤ 300 ms for `hv version`, `hv --help` and `hv vm list`.
//
//   npm run build && node dist/bench/startup.js [--runs 20] [--json]
//
// `hv vm list` and `virsh list` use $HV_LIBVIRT_URI, else qemu:///system when libvirtd answers,
// else test:///default (virsh's built-in test driver, no daemon).

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

interface Case {
  name: string;
  file: string;
  args: string[];
}

interface Result {
  name: string;
  runs: number;
  failures: number;
  wallMs: { median: number; p90: number; min: number };
  cpuMsPerRun: number;
}

function root(): string {
  const here = fileURLToPath(new URL(".", import.meta.url));
  return [resolve(here, ".."), resolve(here, "../..")].find((p) => statSync(join(p, "package.json"), { throwIfNoEntry: false })) ?? process.cwd();
}

/** CPU time (user + system, ms) of this process's waited-for children so far, from /proc. */
function childrenCpuMs(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  // Fields after the command name (which may hold spaces) start at state (field 3).
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[13]) + Number(f[14]); // cutime, cstime (fields 16, 17)
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

function uri(): string {
  if (process.env.HV_LIBVIRT_URI) return process.env.HV_LIBVIRT_URI;
  const r = spawnSync("virsh", ["-c", "qemu:///system", "list", "--name"], { stdio: "ignore", timeout: 10_000 });
  return r.status === 0 ? "qemu:///system" : "test:///default";
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function main(): void {
  const argv = process.argv.slice(2);
  const runs = Number(argv[argv.indexOf("--runs") + 1] ?? 20) || 20;
  const json = argv.includes("--json");
  const hv = join(root(), "bin", "hv.js");
  const u = uri();
  const haveVirsh = spawnSync("virsh", ["--version"], { stdio: "ignore" }).status === 0;
  const cases: Case[] = [
    { name: "node -e 1", file: process.execPath, args: ["-e", "1"] },
    { name: "hv version", file: process.execPath, args: [hv, "version"] },
    { name: "hv --version", file: process.execPath, args: [hv, "--version"] },
    { name: "hv --help", file: process.execPath, args: [hv, "--help"] },
    { name: `hv vm list (${u})`, file: process.execPath, args: [hv, "vm", "list", "--uri", u] },
    { name: "hv vm --help", file: process.execPath, args: [hv, "vm", "--help"] },
    { name: "hv alerts list", file: process.execPath, args: [hv, "alerts", "list", "--limit", "1"] },
    { name: "hv monitor --help", file: process.execPath, args: [hv, "monitor", "--help"] },
    ...(haveVirsh
      ? [
          { name: "virsh --version", file: "virsh", args: ["--version"] },
          { name: `virsh list (${u})`, file: "virsh", args: ["-c", u, "list"] },
        ]
      : []),
  ];
  const wall = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const cpu = new Map<string, number>(cases.map((c) => [c.name, 0]));
  const failures = new Map<string, number>(cases.map((c) => [c.name, 0]));
  // `hv alerts list` needs a store: a throwaway one, not the host's.
  const env = { ...process.env, HV_STATE_DIR: mkdtempSync(join(tmpdir(), "hv-bench-startup-")) };
  for (let i = 0; i < runs; i++) {
    for (const c of cases) {
      const before = childrenCpuMs();
      const t0 = performance.now();
      const r = spawnSync(c.file, c.args, { stdio: "ignore", env, timeout: 60_000 });
      wall.get(c.name)!.push(performance.now() - t0);
      cpu.set(c.name, cpu.get(c.name)! + childrenCpuMs() - before);
      if (r.status !== 0) failures.set(c.name, failures.get(c.name)! + 1);
    }
  }
  rmSync(env.HV_STATE_DIR, { recursive: true, force: true });
  const results: Result[] = cases.map((c) => {
    const w = [...wall.get(c.name)!].sort((a, b) => a - b);
    return { name: c.name, runs, failures: failures.get(c.name)!, wallMs: { median: quantile(w, 0.5), p90: quantile(w, 0.9), min: w[0]! }, cpuMsPerRun: cpu.get(c.name)! / runs };
  });
  if (json) {
    process.stdout.write(JSON.stringify({ runs, node: process.version, loadavg: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "), results }) + "\n");
    return;
  }
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(`start-up, ${runs} runs each, interleaved (node ${process.version}, load average ${load})`);
  console.log(`${"command".padEnd(40)} ${"median".padStart(8)} ${"p90".padStart(8)} ${"min".padStart(8)} ${"cpu/run".padStart(8)}  failed`);
  for (const r of results) {
    const ms = (n: number): string => `${n.toFixed(0)} ms`.padStart(8);
    console.log(`${r.name.padEnd(40)} ${ms(r.wallMs.median)} ${ms(r.wallMs.p90)} ${ms(r.wallMs.min)} ${ms(r.cpuMsPerRun)}  ${r.failures}`);
  }
}

main();
