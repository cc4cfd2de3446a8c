import type { Command } from "commander";

// Placeholder: replaced by the real `hv model` command group.
export function registerModel(program: Command): void {
  program.command("model").description("(in progress)");
}
