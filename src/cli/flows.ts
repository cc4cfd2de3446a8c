import type { Command } from "commander";

// Placeholder: replaced by the real `hv flows` command group.
export function registerFlows(program: Command): void {
  program.command("flows").description("(in progress)");
}
