// Where benchmarks find the repository and the shared real data (../shared/data beside the
// checkout, or $HV_SHARED_DATA), and the largest real audit log to measure with.

import { existsSync, readdirSync, statSync } from "node:fs";
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
