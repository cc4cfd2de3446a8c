import type { Command } from "commander";

// STUB: replaced by the response work.
export function registerQuarantine(program: Command): void {
  program.command("quarantine").description("(not yet implemented)");
}
