import type { Command } from "commander";

// STUB: replaced by the response work.
export function registerForensics(program: Command): void {
  program.command("forensics").description("(not yet implemented)");
}
