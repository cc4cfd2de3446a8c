import type { Command } from "commander";

// Placeholder: replaced by the real `hv feeds` command group.
export function registerFeeds(program: Command): void {
  program.command("feeds").description("(in progress)");
}
