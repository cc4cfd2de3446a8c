// `hv privileged-helper`: the root service an unprivileged hv asks to kill other users' processes
// and to lock or unlock accounts (docs/nixos.md, "Privileged helper"). Socket-activated by systemd
// on NixOS; runs until SIGTERM.

import type { Command } from "commander";
import { startHelper } from "../privileged/server.js";
import { writeSafe } from "../events/terminal.js";

interface Opts {
  socket: string;
  group?: string;
  allowSystemUsers?: boolean;
  maxConnections: string;
  stateDir: string;
}

export function registerPrivileged(program: Command): void {
  program
    .command("privileged-helper")
    .description("serve the root-only host actions (kill, lock/unlock account) on a Unix socket for an unprivileged hv")
    .requiredOption("--socket <path>", "socket path (bound when systemd passes no socket; the agent finds it in HV_PRIVILEGED_SOCKET)")
    .option("--group <name>", "group owning a socket the helper binds itself (mode 0660): the agent's group")
    .option("--allow-system-users", "let requests reach root's and system users' (uid < 1000) processes and accounts")
    .option("--max-connections <n>", "connections open at once", "8")
    .option("--state-dir <dir>", "where it records the accounts it locked (only those can be unlocked through it)", "/var/lib/hv-privileged")
    .addHelpText(
      "after",
      `
One JSON request per line, one JSON reply per line, e.g.
  {"op":"kill","pid":1234,"signal":"SIGKILL","expectExe":"/usr/bin/bash"}
  {"op":"lock-account","user":"mallory"}
  {"op":"unlock-account","user":"mallory","previous":{"locked":false,"expire":""}}
Who may connect is decided by the socket file's group and mode (0660): only root and that group.
Only accounts the helper locked itself can be unlocked through it, to what they were before.

Examples:
  hv privileged-helper --socket /run/hv/privileged.sock --group hv
  echo '{"op":"lock-account","user":"mallory"}' | socat - UNIX-CONNECT:/run/hv/privileged.sock`,
    )
    .action(async (opts: Opts) => {
      if (process.getuid?.() !== 0) throw new Error("hv privileged-helper must run as root");
      const maxConnections = Number(opts.maxConnections);
      if (!Number.isInteger(maxConnections) || maxConnections < 1 || maxConnections > 1024) throw new Error(`--max-connections: ${opts.maxConnections} is not a number from 1 to 1024`);
      const helper = await startHelper({
        socket: opts.socket,
        ...(opts.group !== undefined ? { group: opts.group } : {}),
        allowSystemUsers: opts.allowSystemUsers === true,
        maxConnections,
        idleMs: 60_000,
        stateDir: opts.stateDir,
        log: (line) => writeSafe(process.stderr, `hv-privileged: ${line}\n`),
      });
      await new Promise<void>((resolve) => {
        const stop = (sig: string): void => {
          writeSafe(process.stderr, `hv-privileged: ${sig}, stopping\n`);
          void helper.close().then(resolve);
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
    });
}
