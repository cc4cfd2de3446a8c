import type { Command } from "commander";
import { writeSafe } from "../events/terminal.js";
import { packageVersion } from "../events/version.js";

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
