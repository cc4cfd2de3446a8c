import type { Command } from "commander";

// STUB: replaced by the response work.
export function registerPlaybooks(program: Command): void {
  program.command("playbooks").description("(not yet implemented)");
}
