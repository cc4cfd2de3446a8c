// hv's commands as plain data, read from the commander definitions themselves: shell completion
// and the man pages are generated from it, so they list exactly what `hv --help` does.

import type { Command } from "commander";

export interface OptionNode {
  /** As written in the definition: "-V, --version", "--state-dir <dir>". */
  flags: string;
  long?: string;
  short?: string;
  /** Takes a value (<x> or [x]). */
  takesValue: boolean;
  description: string;
  defaultValue?: string;
}

export interface CommandNode {
  /** Names from the top: [] for hv itself, ["vm", "snapshot", "create"]. */
  path: string[];
  description: string;
  /** "hv vm snapshot create [options] <name> <snapshot>" */
  usage: string;
  options: OptionNode[];
  subcommands: CommandNode[];
  /** The help text added after the options (examples, exit status, notes). */
  after: string;
}

export function commandTree(cmd: Command, path: string[] = []): CommandNode {
  const help = cmd.createHelp();
  const options: OptionNode[] = help.visibleOptions(cmd).map((o) => ({
    flags: o.flags,
    ...(o.long ? { long: o.long } : {}),
    ...(o.short ? { short: o.short } : {}),
    takesValue: o.required || o.optional,
    description: o.description,
    ...(o.defaultValue !== undefined && typeof o.defaultValue !== "boolean" ? { defaultValue: String(o.defaultValue) } : {}),
  }));
  let after = "";
  (cmd as unknown as NodeJS.EventEmitter).emit("afterHelp", { error: false, command: cmd, write: (s: string) => void (after += s) });
  const subcommands = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden && c.name() !== "help").map((c) => commandTree(c, [...path, c.name()]));
  return { path, description: cmd.description(), usage: ["hv", ...path, cmd.usage()].join(" "), options, subcommands, after: after.replace(/^\n+/, "").trimEnd() };
}

/** Every command of the tree, depth first, the root first. */
export function allCommands(node: CommandNode): CommandNode[] {
  return [node, ...node.subcommands.flatMap(allCommands)];
}
