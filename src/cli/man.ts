// Man pages (roff, man(7) macros) generated from the command tree: hv(1) with the commands, the
// exit codes, the environment and the files, and one page per command (hv-vm(1), hv-monitor(1),
// …) holding every subcommand with its options and the examples from its --help.

import type { CommandNode, OptionNode } from "./command-tree.js";
import { packageVersion } from "../events/version.js";

export interface ManPage {
  file: string;
  text: string;
}

/** Text for roff: backslashes and dashes escaped, other than ASCII as \[uXXXX], no line taken for a request. */
function esc(text: string): string {
  return text
    .replace(/\\/g, "\\e")
    .replace(/-/g, "\\-")
    .replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}]`)
    .split("\n")
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join("\n");
}

function head(name: string, description: string): string[] {
  return [`.TH "${name.toUpperCase()}" "1" "" "hv ${packageVersion()}" "hv manual"`, ".SH NAME", `${esc(name)} \\- ${esc(description)}`];
}

function optionLines(options: OptionNode[]): string[] {
  return options.flatMap((o) => [".TP", `.B ${esc(o.flags)}`, esc(o.description + (o.defaultValue !== undefined ? ` (default: ${o.defaultValue})` : ""))]);
}

function verbatim(text: string): string[] {
  return text ? [".PP", ".nf", esc(text), ".fi"] : [];
}

/** One subcommand and, indented, its options, its notes and its own subcommands. */
function commandSection(n: CommandNode): string[] {
  const own = n.options.filter((o) => o.long !== "--help");
  return [
    ".TP",
    `.B ${esc(n.usage)}`,
    esc(n.description),
    ...(own.length > 0 || n.after ? [".RS", ...optionLines(own), ...verbatim(n.after), ".RE"] : []),
    ...n.subcommands.flatMap(commandSection),
  ];
}

const EXIT_STATUS = [
  ".SH EXIT STATUS",
  ".TP",
  ".B 0",
  "success; for checks (doctor, rules check, vm audit \\-\\-fail\\-on, forensics verify): nothing wrong found",
  ".TP",
  ".B 1",
  "the command failed, or a check found problems",
  ".TP",
  ".B 2",
  "usage error or unreadable input (a missing or garbage file, a bad flag value)",
];

const ENVIRONMENT = [
  ".SH ENVIRONMENT",
  ".TP",
  ".B HV_CONFIG",
  "the configuration file when \\-\\-config is not given (else /etc/hv/hv.yaml when it exists)",
  ".TP",
  ".B HV_STATE_DIR",
  "the state directory (store, forensic bundles, keys); default /var/lib/hv as root, else ~/.local/state/hv",
  ".TP",
  ".B HV_LIBVIRT_URI",
  "the libvirt connection (default qemu:///system)",
  ".TP",
  ".B HV_PRIVILEGED_SOCKET",
  "the privileged helper's socket, for an unprivileged agent",
  ".TP",
  ".B HV_TEMPLATE_DIR",
  "a first directory to look for VM templates in",
];

const FILES = [
  ".SH FILES",
  ".TP",
  ".B /etc/hv/hv.yaml",
  "the configuration (read when it exists; --config and $HV_CONFIG name another)",
  ".TP",
  ".B /var/lib/hv/hv.db",
  "the store: events, alerts, actions, enforcements, feeds (SQLite)",
  ".TP",
  ".B /etc/audit/rules.d/60\\-hv.rules",
  "the audit rules hv's detections need (hv service install writes them)",
  ".TP",
  ".B /etc/systemd/system/hv\\-monitor.service",
  "the agent as a service outside NixOS (hv service install)",
];

export function manPages(tree: CommandNode): ManPage[] {
  const top = tree.subcommands;
  const root: string[] = [
    ...head("hv", tree.description),
    ".SH SYNOPSIS",
    ".nf",
    esc("hv [options] <command> [<args>]"),
    ".fi",
    ".SH DESCRIPTION",
    esc(`${tree.description}. Every command has --help with examples; hv-COMMAND(1) describes each in full.`),
    ".SH COMMANDS",
    ...top.flatMap((c) => [".TP", `.B hv ${esc(c.path[0]!)}`, `${esc(c.description)} (see \\fBhv\\-${esc(c.path[0]!)}\\fR(1))`]),
    ".SH OPTIONS",
    ...optionLines(tree.options),
    ...(tree.after ? [".SH EXAMPLES", ...verbatim(tree.after)] : []),
    ...EXIT_STATUS,
    ...ENVIRONMENT,
    ...FILES,
    ".SH SEE ALSO",
    top.map((c) => `\\fBhv\\-${esc(c.path[0]!)}\\fR(1)`).join(", "),
  ];
  const pages: ManPage[] = [{ file: "hv.1", text: root.join("\n") + "\n" }];
  for (const c of top) {
    const name = `hv-${c.path[0]}`;
    const own = c.options.filter((o) => o.long !== "--help");
    const lines = [
      ...head(name, c.description),
      ".SH SYNOPSIS",
      ".nf",
      esc(c.usage),
      ".fi",
      ".SH DESCRIPTION",
      esc(c.description),
      ...verbatim(c.after),
      ...(own.length > 0 ? [".SH OPTIONS", ...optionLines(own)] : []),
      ...(c.subcommands.length > 0 ? [".SH COMMANDS", ...c.subcommands.flatMap(commandSection)] : []),
      ...EXIT_STATUS,
      ".SH SEE ALSO",
      "\\fBhv\\fR(1)",
    ];
    pages.push({ file: `${name}.1`, text: lines.join("\n") + "\n" });
  }
  return pages;
}
