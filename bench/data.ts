// Where benchmarks find the repository and the shared real data (../shared/data beside the
// checkout, or $HV_SHARED_DATA), and the largest real audit log to measure with.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
}

export const ROOT = findRoot();
export const SHARED = process.env.HV_SHARED_DATA ?? join(ROOT, "..", "shared", "data");

/** The largest *.log/*.txt under ../shared/data/audit-logs, else under the committed fixtures (and says so). */
export function largestAuditLog(): string {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(log|txt)$/.test(e.name)) found.push(p);
    }
  };
  const shared = join(SHARED, "audit-logs");
  if (existsSync(shared)) walk(shared);
  else {
    process.stderr.write(`note: ${shared} not found; using the committed fixtures (a much smaller seed)\n`);
    walk(join(ROOT, "test", "fixtures", "audit"));
  }
  found.sort((a, b) => statSync(b).size - statSync(a).size);
  if (!found[0]) throw new Error("no audit log found to benchmark with");
  return found[0];
}

/** The biggest raw audit log available, as lines that carry msg=audit(. */
export function seedLog(): { name: string; lines: string[] } {
  const best = largestAuditLog();
  const lines = readFileSync(best, "utf8").split("\n").filter((l) => l.includes("msg=audit("));
  return { name: best.slice(best.indexOf("audit-logs") >= 0 ? best.indexOf("audit-logs") : 0), lines };
}

const STAMP = /msg=audit\((\d+)\.(\d+):(\d+)\)/;

/** Repeats the seed, shifting each copy's serials past the previous copy and its clock by the seed's span. */
export function buildInput(seed: string[], total: number): string {
  let maxSerial = 0;
  let minSec = Infinity;
  let maxSec = 0;
  for (const l of seed) {
    const m = STAMP.exec(l);
    if (!m) continue;
    maxSerial = Math.max(maxSerial, Number(m[3]));
    minSec = Math.min(minSec, Number(m[1]));
    maxSec = Math.max(maxSec, Number(m[1]));
  }
  const span = maxSec - minSec + 10;
  const out: string[] = [];
  for (let copy = 0; out.length < total; copy++) {
    const dSerial = copy * (maxSerial + 1);
    const dSec = copy * span;
    for (const l of seed) {
      if (out.length >= total) break;
      out.push(
        l.replace(STAMP, (_m, sec: string, ms: string, serial: string) => `msg=audit(${Number(sec) + dSec}.${ms}:${(Number(serial) + dSerial) % 2 ** 32})`),
      );
    }
  }
  return out.join("\n") + "\n";
}

