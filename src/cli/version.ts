import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { writeSafe } from "../events/terminal.js";

export function packageVersion(): string {
  // src/cli/ when run from source (tests), dist/src/cli/ when built.
  for (const rel of ["../../package.json", "../../../package.json"]) {
    const url = new URL(rel, import.meta.url);
    if (!existsSync(url)) continue;
    const pkg = JSON.parse(readFileSync(url, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "hv" && pkg.version) return pkg.version;
  }
  return "unknown";
}

export function registerVersion(program: Command): void {
  program.version(packageVersion(), "-V, --version", "print the version number");
  program
    .command("version")
    .description("print hv's version and runtime")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExamples:\n  hv version\n  hv version --json")
    .action((opts: { json?: boolean }) => {
      const info = { version: packageVersion(), node: process.versions.node, platform: `${process.platform}-${process.arch}` };
      if (opts.json) writeSafe(process.stdout, JSON.stringify(info) + "\n");
      else writeSafe(process.stdout, `hv ${info.version} (node ${info.node}, ${info.platform})\n`);
    });
}
