// Runs a real auditd for tests, without systemd: a copy of /etc/audit/auditd.conf in a temp dir,
// pointing the log at that dir and the plugin dir at one with only the af_unix plugin, started as
// `auditd -n -c <dir>` (-n: no fork; not -f, which sends events to stderr instead of the log).
//
// The kernel accepts one audit daemon per host, so this helper records the pid of the auditd it
// starts in a well-known file and kills that one first if an earlier run left it behind; an
// auditd it did not start is never touched (start fails instead).

import { execa, type ResultPromise } from "execa";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface StartAuditdOptions {
  logFormat?: "ENRICHED" | "RAW";
  /** Keep the temp dir (log, config) after stop. Default false. */
  keepDir?: boolean;
}

export interface RunningAuditd {
  dir: string;
  logPath: string;
  socketPath: string;
  pid: number;
  /** Removes the rules added through auditctl(), stops auditd, and puts the kernel's enabled flag back. */
  stop(): Promise<void>;
}

const PID_FILE = join(tmpdir(), "hv-test-auditd.pid");
const SYSTEM_CONF = "/etc/audit/auditd.conf";

/** Why a real auditd cannot run here, or undefined if it can. */
export async function whyNoAuditd(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "not running as root (auditd needs CAP_AUDIT_CONTROL)";
  for (const file of ["/usr/sbin/auditd", "/usr/sbin/auditctl", SYSTEM_CONF]) {
    if (!existsSync(file)) return `${file} is missing (Debian package auditd)`;
  }
  const status = await execa("auditctl", ["-s"], { reject: false });
  if (status.exitCode !== 0) return `auditctl -s failed: ${status.stderr || status.stdout}`;
  return undefined;
}

// Rules added through auditctl(), as the arguments that delete them again.
const addedRules: string[][] = [];

/**
 * Runs auditctl. Rules added with -A are remembered so stop() deletes exactly those (with -d and
 * the same arguments), never the host's other rules.
 *
 * Only -A (insert first) adds rules: a host may already have rules loaded (a CI machine copied
 * from one that had a ruleset in its kernel failed this way), and the first exit rule that
 * matches decides the record's key, so an appended rule (-a, or -w, which appends) can be
 * shadowed by the host's and the test's key never appears.
 */
export async function auditctl(...args: string[]): Promise<string> {
  const [op, ...rest] = args;
  if (op === "-a" || op === "-w") {
    throw new Error(`auditctl ${op}: add test rules with -A (first in the list), so the host's own rules cannot take the event`);
  }
  const { stdout } = await execa("auditctl", args);
  const key = rest.join("\u0000");
  if (op === "-A") addedRules.push(["-d", ...rest]);
  else if (op === "-d") {
    const i = addedRules.findIndex((r) => r[0] === op && r.slice(1).join("\u0000") === key);
    if (i !== -1) addedRules.splice(i, 1);
  }
  return stdout;
}

export async function startAuditd(opts: StartAuditdOptions = {}): Promise<RunningAuditd> {
  const reason = await whyNoAuditd();
  if (reason) throw new Error(`cannot start auditd: ${reason}`);
  await killLeftover();
  const before = await kernelStatus();
  if (before.pid !== 0 && isAlive(before.pid)) {
    throw new Error(`another auditd (pid ${before.pid}) is registered with the kernel and was not started by this helper; not touching it`);
  }

  const dir = await mkdtemp(join(tmpdir(), "hv-auditd-"));
  // auditd refuses config files that group or others can write, or that root does not own.
  await chmod(dir, 0o700);
  const logPath = join(dir, "audit.log");
  const socketPath = join(dir, "audispd.sock");
  await mkdir(join(dir, "plugins.d"), { mode: 0o750 });
  await writeFile(join(dir, "auditd.conf"), auditdConf(await readFile(SYSTEM_CONF, "utf8"), dir, logPath, opts.logFormat ?? "ENRICHED"), { mode: 0o640 });
  await writeFile(
    join(dir, "plugins.d", "af_unix.conf"),
    ["active = yes", "direction = out", "path = builtin_af_unix", "type = builtin", `args = 0640 ${socketPath}`, "format = string", ""].join("\n"),
    { mode: 0o640 },
  );

  const child: ResultPromise = execa("auditd", ["-n", "-c", dir], { reject: false, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const pid = child.pid;
  if (pid === undefined) throw new Error("auditd did not start");
  await writeFile(PID_FILE, `${pid}\n`);
  let exited = false;
  void child.then(() => (exited = true));

  const stop = async (): Promise<void> => {
    for (const rule of addedRules.splice(0)) {
      const r = await execa("auditctl", rule, { reject: false });
      if (r.exitCode !== 0) console.warn(`auditd helper: could not delete rule (auditctl ${rule.join(" ")}): ${r.stderr}`);
    }
    if (!exited) {
      process.kill(pid, "SIGTERM");
      const done = await Promise.race([child.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5000))]);
      if (!done) {
        process.kill(pid, "SIGKILL");
        await child;
      }
    }
    await rm(PID_FILE, { force: true });
    // auditd enables auditing when it starts; put the flag back as it was (2 = locked, cannot change).
    const after = await kernelStatus();
    if (before.enabled !== 2 && after.enabled !== before.enabled) await execa("auditctl", ["-e", String(before.enabled)]);
    if (!opts.keepDir) await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitFor(async () => {
      if (exited) {
        const r = await child;
        throw new Error(`auditd exited with ${r.exitCode}: ${String(r.stderr)} ${String(r.stdout)}`);
      }
      return (await kernelStatus()).pid === pid && existsSync(socketPath) && existsSync(logPath);
    }, 10_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, logPath, socketPath, pid, stop };
}

function auditdConf(system: string, dir: string, logPath: string, format: string): string {
  const overrides: Record<string, string> = {
    log_file: logPath,
    log_format: format,
    plugin_dir: join(dir, "plugins.d"),
    write_logs: "yes",
    // A nearly full /tmp must not make auditd suspend logging in the middle of a test.
    space_left_action: "SYSLOG",
    admin_space_left_action: "SYSLOG",
    disk_full_action: "SYSLOG",
    disk_error_action: "SYSLOG",
  };
  const lines = system.split("\n").filter((line) => {
    const key = /^\s*([a-z_]+)\s*=/.exec(line)?.[1];
    return key === undefined || !(key in overrides);
  });
  for (const [key, value] of Object.entries(overrides)) lines.push(`${key} = ${value}`);
  return `${lines.join("\n")}\n`;
}

async function killLeftover(): Promise<void> {
  const pid = Number((await readFile(PID_FILE, "utf8").catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  const comm = (await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "")).trim();
  if (comm === "auditd") {
    process.kill(pid, "SIGTERM");
    try {
      await waitFor(async () => !isAlive(pid), 5000);
    } catch {
      process.kill(pid, "SIGKILL");
    }
  }
  await rm(PID_FILE, { force: true });
}

async function kernelStatus(): Promise<{ enabled: number; pid: number }> {
  const { stdout } = await execa("auditctl", ["-s"]);
  const field = (name: string): number => Number(new RegExp(`^${name} (\\d+)`, "m").exec(stdout)?.[1] ?? NaN);
  return { enabled: field("enabled"), pid: field("pid") };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One auditd per host, and other tests use it too: wait up to two minutes for our turn. */
export async function startAuditdWhenFree(opts: StartAuditdOptions = { logFormat: "ENRICHED" }): Promise<RunningAuditd> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return await startAuditd(opts);
    } catch (err) {
      if (!/another auditd/.test(String(err)) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}
