import type { Command } from "commander";

// STUB: replaced by the response work.
export function registerActions(program: Command): void {
  program.command("actions").description("(not yet implemented)");
}
