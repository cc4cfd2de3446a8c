// hv as services outside NixOS (Debian, Ubuntu): the systemd units, the system user and the audit
// rules of packaging/debian and rules/audit, written under a root directory (/ on a host, a
// scratch directory in tests). Every file hv writes starts with its "# hv:" comment, so removing
// them again touches nothing else. NixOS has the module (nix/module.nix) instead.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findProgram, runProgram } from "../events/programs.js";
import { shippedAuditRulesFile } from "./config.js";

/** The name hv's audit rules get in /etc/audit/rules.d: after the host's base rules (10-, 30-), before 99-finalize. */
export const AUDIT_RULES_INSTALLED_NAME = "60-hv.rules";

/** packaging/debian of the hv package (src/agent or dist/src/agent). */
export function packagingDir(): string {
  for (const rel of ["../../packaging/debian", "../../../packaging/debian"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new Error("packaging/debian is missing from this hv package: reinstall it");
}

/** How systemd should start this very hv: node and bin/hv.js, absolute (systemd has no PATH of ours). */
export function hvCommand(): string {
  const bin = fileURLToPath(new URL(existsSync(new URL("../../bin/hv.js", import.meta.url)) ? "../../bin/hv.js" : "../../../bin/hv.js", import.meta.url));
  return `${process.execPath} ${resolve(bin)}`;
}

export interface InstallFile {
  /** Path under the root, e.g. etc/systemd/system/hv-monitor.service. */
  path: string;
  content: string;
  mode: number;
}

/** The shipped units with `/usr/bin/hv` replaced by `hv` (the command that runs this hv). */
export function serviceFiles(hv = hvCommand()): InstallFile[] {
  const dir = packagingDir();
  const units = readdirSync(dir).filter((f) => /\.(service|socket|timer)$/.test(f)).sort();
  const files: InstallFile[] = units.map((f) => ({
    path: join("etc/systemd/system", f),
    content: readFileSync(join(dir, f), "utf8").replace(/^(Exec\w*=[-@:+!]*)\/usr\/bin\/hv(?=\s)/gm, `$1${hv}`),
    mode: 0o644,
  }));
  files.push({ path: "etc/sysusers.d/hv.conf", content: readFileSync(join(dir, "hv.sysusers"), "utf8"), mode: 0o644 });
  files.push(auditRulesFile());
  return files;
}

/** rules/audit/hv.rules as /etc/audit/rules.d/60-hv.rules, next to the host's own rules (never replacing them). */
export function auditRulesFile(): InstallFile {
  const rules = readFileSync(shippedAuditRulesFile(), "utf8");
  return { path: join("etc/audit/rules.d", AUDIT_RULES_INSTALLED_NAME), content: `# hv: the audit rules hv's detections need (rules/audit/hv.rules of hv); hv service uninstall removes this file.\n${rules}`, mode: 0o640 };
}

export type FileAction = "created" | "updated" | "unchanged" | "removed" | "absent" | "kept";

export interface FileResult {
  path: string;
  action: FileAction;
  /** Why a file was kept (not hv's). */
  reason?: string;
}

/** Writes the files under `root`; `dryRun` only says what would change. */
export async function writeFiles(root: string, files: InstallFile[], dryRun = false): Promise<FileResult[]> {
  const out: FileResult[] = [];
  for (const f of files) {
    const target = join(root, f.path);
    const before = await readFile(target, "utf8").catch(() => undefined);
    const action: FileAction = before === undefined ? "created" : before === f.content ? "unchanged" : "updated";
    if (!dryRun && action !== "unchanged") {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, f.content, { mode: f.mode });
    }
    out.push({ path: target, action });
  }
  return out;
}

/** Removes the files hv installed (those starting with hv's "# hv:" comment); others are kept and said. */
export async function removeFiles(root: string, files: InstallFile[], dryRun = false): Promise<FileResult[]> {
  const out: FileResult[] = [];
  for (const f of files) {
    const target = join(root, f.path);
    const text = await readFile(target, "utf8").catch(() => undefined);
    if (text === undefined) out.push({ path: target, action: "absent" });
    else if (!text.startsWith("# hv:")) out.push({ path: target, action: "kept", reason: "it does not start with hv's \"# hv:\" line: not written by hv" });
    else {
      if (!dryRun) await rm(target);
      out.push({ path: target, action: "removed" });
    }
  }
  return out;
}

export interface StepResult {
  step: string;
  ok: boolean;
  detail: string;
}

/** Creates the hv user and group from the installed sysusers file (systemd-sysusers --root for a scratch root). */
export async function applySysusers(root: string): Promise<StepResult> {
  if (!findProgram("systemd-sysusers")) return { step: "system user", ok: false, detail: "systemd-sysusers is not installed (apt-get install systemd): create the user by hand: adduser --system --group --home /var/lib/hv hv" };
  const conf = join(root, "etc/sysusers.d/hv.conf");
  const r = await runProgram("systemd-sysusers", [...(resolve(root) === "/" ? [] : [`--root=${root}`]), conf], { timeout: 30_000, stdin: "ignore" });
  return { step: "system user", ok: r.exitCode === 0, detail: r.exitCode === 0 ? `user and group hv (${(r.stderr.trim() || "already there").replaceAll("\n", "; ")})` : `systemd-sysusers failed: ${r.stderr.trim()}` };
}

/** On a host running systemd: reload it, and with `start` enable and start the agent and the helper's socket. */
export async function activate(start: boolean): Promise<StepResult[]> {
  if (!existsSync("/run/systemd/system")) return [{ step: "systemd", ok: false, detail: "systemd is not running here: start hv by other means (hv monitor --config /etc/hv/hv.yaml)" }];
  const steps: StepResult[] = [];
  const run = async (step: string, program: "systemctl" | "augenrules", args: string[]): Promise<void> => {
    const r = await runProgram(program, args, { timeout: 60_000, stdin: "ignore" });
    steps.push({ step, ok: r.exitCode === 0, detail: r.exitCode === 0 ? `${program} ${args.join(" ")}` : `${program} ${args.join(" ")} failed: ${r.stderr.trim()}` });
  };
  await run("systemd", "systemctl", ["daemon-reload"]);
  if (start) {
    if (findProgram("augenrules")) await run("audit rules", "augenrules", ["--load"]);
    await run("services", "systemctl", ["enable", "--now", "hv-privileged.socket", "hv-monitor.service"]);
  }
  return steps;
}

/** Is this NixOS (where the module installs hv, and nothing should be written by hand)? */
export function isNixOS(root = "/"): boolean {
  return existsSync(join(root, "etc/NIXOS"));
}
