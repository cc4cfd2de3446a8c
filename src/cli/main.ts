import { Command } from "commander";
import { resolveConfigPath } from "../agent/config-path.js";
import { InputError } from "../events/input.js";
import { printErr, writeSafe } from "../events/terminal.js";
import { registerVersion } from "./version.js";

type Register = (program: Command) => unknown;

/**
 * The command groups, each with the module that defines it. A module is imported only when its
 * command runs or its help is asked for: importing all of them (tfjs, ink, fastify, nats, …)
 * took ~1.5 s on every invocation, which scripts that loop over VMs pay each time. `hv --help`
 * lists each group's commands and one-line descriptions from here; test/cli/main.test.ts keeps
 * them equal to what the modules register.
 */
export const COMMAND_GROUPS: { commands: Record<string, string>; load: () => Promise<Register> }[] = [
  {
    commands: { setup: "set hv up on this host: audit rules, mode, allowlists, feeds, alert sinks, API, services; writes /etc/hv/hv.yaml (on NixOS: prints the module options)" },
    load: async () => (await import("./setup.js")).registerSetup,
  },
  {
    commands: { events: "stored events (hv events list), or a recorded audit log parsed and grouped (hv events --replay FILE)" },
    load: async () => (await import("./events.js")).registerEvents,
  },
  {
    commands: { monitor: "run the pipeline on this host's audit stream and show alerts (monitor mode: alert, never act)" },
    load: async () => (await import("./monitor.js")).registerMonitor,
  },
  {
    commands: { alerts: "list, show and acknowledge stored alerts" },
    load: async () => (await import("./alerts.js")).registerAlerts,
  },
  {
    commands: { rules: "Sigma rules: check what hv can load and run, and whether the host's audit rules let them see anything" },
    load: async () => (await import("./rules.js")).registerRules,
  },
  {
    commands: { tune: "learning: the exceptions hv proposed from normal operation — list, propose, apply, revoke" },
    load: async () => (await import("./tune.js")).registerTune,
  },
  {
    commands: { vm: "manage virtual machines (libvirt domains)" },
    load: async () => (await import("./vm.js")).registerVm,
  },
  {
    commands: { net: "manage libvirt virtual networks" },
    load: async () => (await import("./net.js")).registerNet,
  },
  {
    commands: { pool: "manage libvirt storage pools", volume: "manage volumes (disk images) in storage pools" },
    load: async () => (await import("./pool.js")).registerPool,
  },
  {
    commands: { flows: "run the flow detectors and threat feeds over a recorded conntrack log; print alerts" },
    load: async () => (await import("./flows.js")).registerFlows,
  },
  {
    commands: { feeds: "threat feeds: add, list, show, sync and remove" },
    load: async () => (await import("./feeds.js")).registerFeeds,
  },
  {
    commands: { firewall: "hv's nftables tables: feed blocklists, VM quarantines, blocked addresses, VM rate limits" },
    load: async () => (await import("./firewall.js")).registerFirewall,
  },
  {
    commands: { model: "one-class anomaly models: train, score, evaluate, inspect" },
    load: async () => (await import("./model.js")).registerModel,
  },
  {
    commands: { playbooks: "response playbooks: list, check, test against an alert, and the actions they can use" },
    load: async () => (await import("./playbooks.js")).registerPlaybooks,
  },
  {
    commands: { actions: "what playbooks decided: list, show, approve, deny and undo actions" },
    load: async () => (await import("./actions.js")).registerActions,
  },
  {
    commands: { quarantine: "VMs cut off from the network: list, add, release" },
    load: async () => (await import("./quarantine.js")).registerQuarantine,
  },
  {
    commands: { forensics: "signed evidence bundles of VMs: capture, list, show, verify, export" },
    load: async () => (await import("./forensics.js")).registerForensics,
  },
  {
    commands: { backup: "VM backups in a restic repository: init, create, list, restore, verify, forget" },
    load: async () => (await import("./backup.js")).registerBackup,
  },
  {
    commands: { "privileged-helper": "serve the root-only host actions (kill, lock/unlock account) on a Unix socket for an unprivileged hv" },
    load: async () => (await import("./privileged.js")).registerPrivileged,
  },
  {
    commands: { fleet: "many hosts over NATS JetStream: live alerts of every host, fleet-wide blocks" },
    load: async () => (await import("./fleet.js")).registerFleet,
  },
  {
    commands: { api: "the REST API and Prometheus metrics: serve them, manage bearer tokens, print the OpenAPI document" },
    load: async () => (await import("./api.js")).registerApi,
  },
  {
    commands: {
      doctor: "check this host and hv: programs, auditd and its rules, libvirt, store, feeds, models, API, fleet, the agent; each problem with its fix",
      status: "the running agent: its processes, store, sources and drops, and its API's /healthz and /metrics",
    },
    load: async () => (await import("./doctor.js")).registerDoctor,
  },
  {
    commands: { service: "install hv's systemd units, system user and audit rules outside NixOS (Debian, Ubuntu), or remove them" },
    load: async () => (await import("./service.js")).registerService,
  },
  {
    commands: { completion: "print a shell completion script for bash, zsh or fish", man: "write hv's man pages (hv(1) and one per command, hv-vm(1), …), or print one" },
    load: async () => (await import("./completion.js")).registerReference,
  },
];

/**
 * The program with the named command groups fully registered (all of them when `load` is
 * undefined) and the others as stubs that only carry their name and description.
 */
export async function buildProgram(load?: string[]): Promise<Command> {
  const program = new Command("hv")
    .description("Security monitoring and VM management for Hyper-NixOS KVM hosts")
    // Usage errors quote what was typed; help and errors go out through the terminal-safe printer.
    .configureOutput({ writeOut: (s) => void writeSafe(process.stdout, s), writeErr: (s) => void writeSafe(process.stderr, s) })
    .showHelpAfterError()
    .addHelpText(
      "after",
      `
Examples:
  hv setup                           the first step on a new host: checks, audit rules, mode, allowlists, feeds
  hv monitor                         watch this host live (audit log or audisp socket)
  hv monitor --replay audit.log      run the pipeline over a recorded log and exit
  hv events --replay audit.log --json   normalized events as JSON lines
  hv version --json`,
    );
  registerVersion(program);
  for (const group of COMMAND_GROUPS) {
    const names = Object.keys(group.commands);
    if (load === undefined || names.some((n) => load.includes(n))) (await group.load())(program);
    else for (const [name, description] of Object.entries(group.commands)) program.command(name).description(description);
  }
  exitUsageErrorsWith2(program);
  program.hook("preAction", (_program, command) => useDefaultConfig(command));
  return program;
}

/** Commands whose --config names the file they write, not one to read: they pick their own default. */
const WRITES_CONFIG = new Set(["setup"]);

/**
 * Every command that takes --config reads the same configuration when none is given: $HV_CONFIG,
 * else /etc/hv/hv.yaml when it exists (what hv setup writes), so `hv monitor`, `hv alerts`,
 * `hv firewall` … agree on the state directory, allowlists and sinks without repeating the flag.
 */
function useDefaultConfig(command: Command): void {
  if (WRITES_CONFIG.has(command.name()) || !command.options.some((o) => o.long === "--config")) return;
  if (command.getOptionValue("config") !== undefined) return;
  const path = resolveConfigPath();
  if (path !== undefined) command.setOptionValueWithSource("config", path, "env");
}

/**
 * Commander exits 1 on its own usage errors (unknown option or command, missing argument, a value
 * an option refuses, a group without its subcommand); hv's table says 2 for usage, 1 for a
 * command that failed or found problems. Set on every command after all are registered, so none
 * a module adds escapes it; help and --version keep their 0.
 */
function exitUsageErrorsWith2(cmd: Command): void {
  cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : USAGE_EXIT));
  for (const sub of cmd.commands) exitUsageErrorsWith2(sub);
}

/** The command group an invocation runs (`hv vm …`, `hv help vm`), if any. */
function requestedCommand(argv: string[]): string | undefined {
  const args = argv.slice(2);
  const first = args.find((a) => !a.startsWith("-"));
  if (first === "help") return args[args.indexOf("help") + 1];
  return first;
}

export async function main(argv: string[]): Promise<void> {
  const wanted = requestedCommand(argv);
  await (await buildProgram(wanted !== undefined ? [wanted] : [])).parseAsync(argv);
}

/** What a failed command prints and its exit code: 2 for unusable input, 1 for anything else. */
export function fail(err: unknown): never {
  printErr(`hv: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(exitCodeOf(err));
}

/** The exit code for usage errors and input hv cannot use. */
export const USAGE_EXIT = 2;

export function exitCodeOf(err: unknown): number {
  return err instanceof InputError ? USAGE_EXIT : 1;
}
