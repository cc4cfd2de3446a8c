import type { Command } from "commander";

// Placeholder: replaced by the real `hv firewall` command group.
export function registerFirewall(program: Command): void {
  program.command("firewall").description("(in progress)");
}
