// `hv service`: hv as systemd services outside NixOS — the hardened agent, the privileged helper's
// socket and service (and any other unit of packaging/debian), the hv system user and hv's audit
// rules. --root writes under another directory (a chroot, an image, a test).

import type { Command } from "commander";
import { InputError } from "../events/input.js";
import { table } from "./output.js";
import { writeSafe } from "../events/terminal.js";

interface Opts {
  root: string;
  hv?: string;
  dryRun?: boolean;
  now?: boolean;
  json?: boolean;
}

export function registerService(program: Command): void {
  const service = program.command("service").description("install hv's systemd units, system user and audit rules outside NixOS (Debian, Ubuntu), or remove them");
  service.addHelpText(
    "after",
    `
Files (under --root, default /):
  etc/systemd/system/hv-monitor.service       the agent: user hv, only CAP_NET_ADMIN, ProtectSystem=strict
  etc/systemd/system/hv-privileged.socket     the root helper's socket (/run/hv/privileged.sock, root:hv 0660)
  etc/systemd/system/hv-privileged.service    the root helper (kill, lock/unlock account), socket-activated
  etc/systemd/system/…                        any other unit hv ships (packaging/debian)
  etc/sysusers.d/hv.conf                      user and group hv, member of libvirt
  etc/audit/rules.d/60-hv.rules               hv's audit rules, next to the host's own
On NixOS use the hypervisor.monitor module instead (docs/nixos.md).

Examples:
  sudo hv service install                     write the files, create user hv; then:
  sudo systemctl daemon-reload && sudo augenrules --load && sudo systemctl enable --now hv-privileged.socket hv-monitor
  sudo hv service install --now               the same, and reload, load the rules and start
  hv service install --root /tmp/img --dry-run
  sudo hv service uninstall`,
  );

  common(service.command("install").description("write the units, the sysusers file and the audit rules, and create user hv"))
    .option("--hv <command>", "the command systemd runs for hv (default: this hv, as node and its bin/hv.js)")
    .option("--now", "then reload systemd, load the audit rules (augenrules --load) and enable and start hv-privileged.socket and hv-monitor")
    .action(async (o: Opts) => {
      const install = await import("../agent/install.js");
      if (install.isNixOS(o.root)) throw new InputError("this is NixOS: enable hypervisor.monitor in configuration.nix instead (docs/nixos.md); nothing was written");
      const files = install.serviceFiles(o.hv ?? install.hvCommand());
      const written = await install.writeFiles(o.root, files, o.dryRun);
      const steps = o.dryRun ? [] : [await install.applySysusers(o.root), ...(o.now && o.root === "/" ? await install.activate(true) : [])];
      if (o.now && o.root !== "/") steps.push({ step: "systemd", ok: false, detail: "--now only applies to the running host (--root /)" });
      report(o, { files: written, steps, dryRun: Boolean(o.dryRun) }, o.dryRun ? "would write" : "wrote");
      if (!o.dryRun && !o.now && o.root === "/") writeSafe(process.stdout, "next: systemctl daemon-reload && augenrules --load && systemctl enable --now hv-privileged.socket hv-monitor.service\n");
      if (steps.some((s) => !s.ok)) process.exitCode = 1;
    });

  common(service.command("uninstall").description("remove the files hv service install wrote (only files that start with hv's own comment); the user and the store stay"))
    .action(async (o: Opts) => {
      const install = await import("../agent/install.js");
      const removed = await install.removeFiles(o.root, install.serviceFiles("/usr/bin/hv"), o.dryRun);
      report(o, { files: removed, steps: [], dryRun: Boolean(o.dryRun) }, o.dryRun ? "would remove" : "removed");
      if (!o.dryRun && o.root === "/") writeSafe(process.stdout, "next: systemctl disable --now hv-monitor.service hv-privileged.socket; systemctl daemon-reload; augenrules --load\n");
    });
}

function common(cmd: Command): Command {
  return cmd
    .option("--root <dir>", "write under this directory instead of / (an image, a chroot, a test)", "/")
    .option("--dry-run", "say what would change; write nothing")
    .option("--json", "the result as JSON");
}

function report(o: Opts, r: { files: Array<{ path: string; action: string; reason?: string }>; steps: Array<{ step: string; ok: boolean; detail: string }>; dryRun: boolean }, verb: string): void {
  if (o.json) {
    writeSafe(process.stdout, JSON.stringify(r) + "\n");
    return;
  }
  const lines = [`${verb}:`, ...table(["FILE", "ACTION"], r.files.map((f) => [f.path, f.action + (f.reason ? ` (${f.reason})` : "")])).map((l) => `  ${l}`)];
  for (const s of r.steps) lines.push(`${s.ok ? "ok" : "FAILED"} ${s.step}: ${s.detail}`);
  writeSafe(process.stdout, lines.join("\n") + "\n");
}
