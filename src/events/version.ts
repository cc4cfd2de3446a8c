// hv's own version, from its package.json: every layer that stamps its output (bundles, backups,
// /metrics, the API) reads it here.

import { existsSync, readFileSync } from "node:fs";

export function packageVersion(): string {
  // src/events/ when run from source (tests), dist/src/events/ when built.
  for (const rel of ["../../package.json", "../../../package.json"]) {
    const url = new URL(rel, import.meta.url);
    if (!existsSync(url)) continue;
    const pkg = JSON.parse(readFileSync(url, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "hv" && pkg.version) return pkg.version;
  }
  return "unknown";
}
