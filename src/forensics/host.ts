import { createReadStream, existsSync } from "node:fs";
import { copyFile, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { MissingProgramError, runProgram, type Program, type ProgramResult } from "../events/programs.js";

// Host-side context of a VM for a bundle: the qemu process tree and its open files, the firewall
// and link state, and the logs qemu and libvirt wrote about it. Each piece is best effort: what
// cannot be read becomes a note in the manifest, never a failed capture.

export interface CollectedFile {
  path: string;
  kind: string;
  description: string;
}

export interface Collected {
  files: CollectedFile[];
  notes: string[];
}

export interface HostPaths {
  /** /run/libvirt/qemu: NAME.pid */
  runDir: string;
  /** /var/log/libvirt: qemu/NAME.log, libvirtd.log */
  logDir: string;
}

export const DEFAULT_HOST_PATHS: HostPaths = { runDir: "/run/libvirt/qemu", logDir: "/var/log/libvirt" };

/** The qemu process of a running VM, from libvirt's pid file. */
export async function qemuPid(vm: string, paths = DEFAULT_HOST_PATHS): Promise<number | undefined> {
  const text = await readFile(join(paths.runDir, `${vm}.pid`), "utf8").catch(() => "");
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 1 && existsSync(`/proc/${pid}`) ? pid : undefined;
}

/** ps of the qemu process and its descendants and threads, and its open files. */
export async function collectProcess(bundleDir: string, pid: number | undefined): Promise<Collected> {
  const out: Collected = { files: [], notes: [] };
  if (pid === undefined) {
    out.notes.push("no qemu process (the VM is not running or not local): no process tree or open files");
    return out;
  }
  const tree = await runOrNote("ps", ["-e", "-o", "pid,ppid,user,group,lstart,etimes,stat,rss,vsz,nlwp,args", "--forest"]);
  if (tree.exitCode === 0) {
    const lines = String(tree.stdout).split("\n");
    const keep = new Set([pid]);
    const rows = [lines[0] ?? ""];
    for (const line of lines.slice(1)) {
      const [p, pp] = line.trim().split(/\s+/).map(Number);
      if (p !== undefined && pp !== undefined && (keep.has(p) || keep.has(pp))) {
        keep.add(p);
        rows.push(line);
      }
    }
    await writeFile(join(bundleDir, "host/qemu-ps.txt"), rows.join("\n") + "\n", { mode: 0o600 });
    out.files.push({ path: "host/qemu-ps.txt", kind: "host", description: `ps of qemu (pid ${pid}) and its children` });
  } else out.notes.push(`ps failed: ${tree.stderr.trim()}`);
  const threads = await runOrNote("ps", ["-L", "-o", "pid,lwp,stat,pcpu,comm", "-p", String(pid)]);
  if (threads.exitCode === 0) {
    await writeFile(join(bundleDir, "host/qemu-threads.txt"), String(threads.stdout) + "\n", { mode: 0o600 });
    out.files.push({ path: "host/qemu-threads.txt", kind: "host", description: "threads of the qemu process" });
  }
  try {
    const fds: Array<{ fd: number; target: string }> = [];
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "?");
      fds.push({ fd: Number(fd), target });
    }
    fds.sort((a, b) => a.fd - b.fd);
    await writeFile(join(bundleDir, "host/qemu-open-files.json"), JSON.stringify({ pid, fds }, null, 1) + "\n", { mode: 0o600 });
    out.files.push({ path: "host/qemu-open-files.json", kind: "host", description: `open files of qemu (/proc/${pid}/fd)` });
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    await writeFile(join(bundleDir, "host/qemu-status.txt"), status, { mode: 0o600 });
    out.files.push({ path: "host/qemu-status.txt", kind: "host", description: `/proc/${pid}/status` });
  } catch (err) {
    out.notes.push(`open files of qemu pid ${pid}: ${(err as Error).message}`);
  }
  return out;
}

/** nft ruleset and link/address state of the host, as JSON. */
export async function collectNetworkState(bundleDir: string): Promise<Collected> {
  const out: Collected = { files: [], notes: [] };
  for (const [file, cmd, args, description] of [
    ["host/nft-ruleset.json", "nft", ["-j", "list", "ruleset"], "nft -j list ruleset"],
    ["host/ip-link.json", "ip", ["-j", "-d", "link", "show"], "ip -j -d link show"],
    ["host/ip-addr.json", "ip", ["-j", "addr", "show"], "ip -j addr show"],
  ] as const) {
    const r = await runOrNote(cmd, [...args]);
    if (r.exitCode === 0) {
      await writeFile(join(bundleDir, file), r.stdout + "\n", { mode: 0o600 });
      out.files.push({ path: file, kind: "host", description });
    } else {
      out.notes.push(`${description} failed: ${(r.stderr || r.shortMessage).trim().split("\n")[0]}`);
    }
  }
  return out;
}

/** qemu's log of the VM (whole) and libvirtd's log lines that mention it (name or uuid). */
export async function collectLogs(bundleDir: string, vm: string, uuid: string, paths = DEFAULT_HOST_PATHS): Promise<Collected> {
  const out: Collected = { files: [], notes: [] };
  const qemuLog = join(paths.logDir, "qemu", `${vm}.log`);
  if (existsSync(qemuLog)) {
    await copyFile(qemuLog, join(bundleDir, "logs/qemu.log"));
    out.files.push({ path: "logs/qemu.log", kind: "log", description: qemuLog });
  } else out.notes.push(`${qemuLog} does not exist`);
  const daemonLog = join(paths.logDir, "libvirtd.log");
  if (existsSync(daemonLog)) {
    const lines: string[] = [];
    const rl = createInterface({ input: createReadStream(daemonLog), crlfDelay: Infinity });
    for await (const line of rl) if (line.includes(vm) || (uuid && line.includes(uuid))) lines.push(line);
    if (lines.length) {
      await writeFile(join(bundleDir, "logs/libvirtd.log"), lines.join("\n") + "\n", { mode: 0o600 });
      out.files.push({ path: "logs/libvirtd.log", kind: "log", description: `lines of ${daemonLog} naming ${vm} or its uuid` });
    } else out.notes.push(`${daemonLog} has no lines about ${vm}`);
  } else out.notes.push(`${daemonLog} does not exist (libvirtd logs elsewhere, e.g. the journal)`);
  return out;
}

/** `--version` of the tools a capture used (first line each), for the manifest. */
export async function toolVersions(tools: Partial<Record<Program, string>>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, file] of Object.entries(tools) as [Program, string][]) {
    const r = await runOrNote(name, ["--version"], file);
    const line = `${r.stdout}\n${r.stderr}`.split("\n").map((s) => s.trim()).find(Boolean);
    out[name] = r.exitCode === 0 && line ? line : "unavailable";
  }
  return out;
}

/**
 * A capture goes on without a missing tool: its absence becomes the result's stderr, so the
 * part it would have made is noted in the bundle (with the package to install) instead.
 */
async function runOrNote(program: Program, args: string[], file: string = program): Promise<ProgramResult> {
  try {
    return await runProgram(program, args, { env: { LC_ALL: "C" }, timeout: 60_000 }, file);
  } catch (err) {
    if (!(err instanceof MissingProgramError)) throw err;
    return { stdout: "", stderr: err.message, timedOut: false, isMaxBuffer: false, shortMessage: err.message };
  }
}
