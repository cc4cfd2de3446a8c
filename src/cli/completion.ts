// `hv completion bash|zsh|fish` and `hv man`: shell completion scripts and man pages generated from
// the command definitions (command-tree.ts), so they never drift from what hv accepts.

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { allCommands, commandTree, type CommandNode } from "./command-tree.js";
import { InputError } from "../events/input.js";
import { manPages } from "./man.js";
import { writeSafe } from "../events/terminal.js";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/** The full command tree (every group loaded). */
export async function fullTree(): Promise<CommandNode> {
  const { buildProgram } = await import("./main.js");
  return commandTree(await buildProgram());
}

export function registerReference(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script for bash, zsh or fish")
    .argument("<shell>", SHELLS.join(", "))
    .addHelpText(
      "after",
      `
Examples:
  hv completion bash > /etc/bash_completion.d/hv          (or, per user: source <(hv completion bash) in ~/.bashrc)
  echo 'source <(hv completion zsh)' >> ~/.zshrc
  hv completion fish > ~/.config/fish/completions/hv.fish`,
    )
    .action(async (shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell)) throw new InputError(`no completion for ${JSON.stringify(shell)}: one of ${SHELLS.join(", ")}`);
      writeSafe(process.stdout, completionScript(shell as Shell, await fullTree()));
    });

  program
    .command("man")
    .description("write hv's man pages (hv(1) and one per command, hv-vm(1), …), or print one")
    .argument("[command]", "print the page of this command (vm, monitor, …; default hv itself)")
    .option("--out <dir>", "write every page into DIR (e.g. man/, or /usr/local/share/man/man1)")
    .addHelpText(
      "after",
      `
Examples:
  hv man --out /usr/local/share/man/man1 && man hv-vm
  hv man vm | man -l -
  npm run man                                   regenerate the pages shipped in man/`,
    )
    .action(async (command: string | undefined, o: { out?: string }) => {
      const pages = manPages(await fullTree());
      if (o.out) {
        await mkdir(o.out, { recursive: true });
        for (const p of pages) await writeFile(join(o.out, p.file), p.text);
        writeSafe(process.stdout, `wrote ${pages.length} pages to ${o.out}\n`);
        return;
      }
      const want = command ? `hv-${command}.1` : "hv.1";
      const page = pages.find((p) => p.file === want);
      if (!page) throw new InputError(`no man page for ${command}: hv has no such command (hv --help lists them)`);
      writeSafe(process.stdout, page.text);
    });
}

export function completionScript(shell: Shell, tree: CommandNode): string {
  return shell === "fish" ? fishScript(tree) : shell === "zsh" ? zshScript(tree) : bashScript(tree);
}

const key = (n: CommandNode): string => ["hv", ...n.path].join(" ");
const subsOf = (n: CommandNode): string[] => n.subcommands.map((c) => c.path[c.path.length - 1]!);
const flagsOf = (n: CommandNode): string[] => n.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined));
const valuedOf = (n: CommandNode): string[] => n.options.filter((o) => o.takesValue).flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined));

/** Tables of subcommands, options and options with values, keyed by the command path ("hv vm snapshot"). */
function bashTables(tree: CommandNode): string {
  const nodes = allCommands(tree);
  const table = (name: string, of: (n: CommandNode) => string[]): string =>
    `declare -A ${name}=(\n${nodes.map((n) => `  [${JSON.stringify(key(n))}]=${JSON.stringify(of(n).join(" "))}`).join("\n")}\n)`;
  return [table("_hv_subs", subsOf), table("_hv_opts", flagsOf), table("_hv_vals", valuedOf)].join("\n");
}

// The walk: the words typed so far select a command path (an option with a value skips its value);
// then the current word completes an option of that command, a subcommand, or a file.
const BASH_FUNCTION = `_hv() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" p="hv" w i skip=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    case "$w" in
      -*) [[ " \${_hv_vals[$p]} " == *" $w "* ]] && skip=1; continue ;;
    esac
    [[ " \${_hv_subs[$p]} " == *" $w "* ]] && p="$p $w"
  done
  if [[ "$prev" == -* && " \${_hv_vals[$p]} " == *" $prev "* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "\${_hv_opts[$p]}" -- "$cur"))
  elif [[ -n "\${_hv_subs[$p]}" ]]; then
    COMPREPLY=($(compgen -W "\${_hv_subs[$p]}" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _hv hv
`;

function bashScript(tree: CommandNode): string {
  return `# bash completion for hv, generated from its command definitions by \`hv completion bash\`.
# Install: hv completion bash > /etc/bash_completion.d/hv   (or: source <(hv completion bash))
${bashTables(tree)}
${BASH_FUNCTION}`;
}

function zshScript(tree: CommandNode): string {
  // zsh runs the bash function through bashcompinit (the variable is p, never path: zsh ties
  // $path to $PATH).
  return `# zsh completion for hv, generated from its command definitions by \`hv completion zsh\`.
# Install: echo 'source <(hv completion zsh)' >> ~/.zshrc   (after compinit)
autoload -U +X bashcompinit && bashcompinit
${bashTables(tree)}
${BASH_FUNCTION}`;
}

function fishScript(tree: CommandNode): string {
  const nodes = allCommands(tree);
  const q = (s: string): string => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  const cases = (of: (n: CommandNode) => string[]): string =>
    nodes
      .filter((n) => of(n).length > 0)
      .map((n) => `        case ${q(key(n))}\n            printf '%s\\n' ${of(n).map(q).join(" ")}`)
      .join("\n");
  const lines: string[] = [
    "# fish completion for hv, generated from its command definitions by `hv completion fish`.",
    "# Install: hv completion fish > ~/.config/fish/completions/hv.fish",
    "function __hv_subs",
    "    switch $argv[1]",
    cases(subsOf),
    "    end",
    "end",
    "function __hv_vals",
    "    switch $argv[1]",
    cases(valuedOf),
    "    end",
    "end",
    "# The command path the words typed so far select (an option with a value skips its value).",
    "function __hv_path",
    "    set -l p hv",
    "    set -l skip 0",
    "    for w in (commandline -opc)[2..-1]",
    "        if test $skip = 1",
    "            set skip 0",
    "            continue",
    "        end",
    "        if string match -q -- '-*' $w",
    "            contains -- $w (__hv_vals $p); and set skip 1",
    "            continue",
    "        end",
    "        contains -- $w (__hv_subs $p); and set p \"$p $w\"",
    "    end",
    "    echo $p",
    "end",
  ];
  for (const n of nodes) {
    const at = `-n ${q(`test (__hv_path) = ${q(key(n))}`)}`;
    for (const c of n.subcommands) lines.push(`complete -c hv ${at} -f -a ${q(c.path[c.path.length - 1]!)} -d ${q(c.description)}`);
    for (const o of n.options) {
      const names = [o.long ? `-l ${q(o.long.replace(/^--/, ""))}` : "", o.short ? `-s ${q(o.short.replace(/^-/, ""))}` : ""].filter(Boolean).join(" ");
      lines.push(`complete -c hv ${at} ${names}${o.takesValue ? " -r" : ""} -d ${q(o.description)}`);
    }
  }
  return lines.join("\n") + "\n";
}
