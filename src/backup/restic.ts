import { mkdir } from "node:fs/promises";
import { isNotFound, MissingProgramError, startProgram } from "../events/programs.js";
import split2 from "split2";
import { redactRepository, type ResticRepo } from "./settings.js";

// The one way hv runs restic. The repository and its password reach restic only through its
// environment (RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND): restic's
// command line — readable by every user in /proc/PID/cmdline — holds neither, and hv's messages
// show the repository with any password in it replaced by ***. restic's failures become
// BackupErrors that say what to do (no repository yet, wrong password, restic missing).

export type BackupErrorCode = "missing-restic" | "no-repository" | "wrong-password" | "locked" | "not-found" | "failed";

export class BackupError extends Error {
  override name = "BackupError";
  constructor(
    readonly code: BackupErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ResticRun {
  /** Called with each JSON line restic prints (--json output of backup, for example). */
  onJson?: (obj: Record<string, unknown>) => void;
  /** Write restic's stdout to this file instead of collecting it (dump). */
  stdoutFile?: string;
  cwd?: string;
  signal?: AbortSignal;
  /** Exit codes that are not failures (check: 1 means "errors found", which the caller reports). */
  okExitCodes?: number[];
}

export interface ResticResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The environment restic runs with: hv's own, minus any RESTIC_* it had, plus the repository's. */
export function resticEnv(repo: ResticRepo, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!k.startsWith("RESTIC_")) env[k] = v;
  env.RESTIC_REPOSITORY = repo.repository;
  env.RESTIC_CACHE_DIR = repo.cacheDir;
  if (repo.passwordFile) env.RESTIC_PASSWORD_FILE = repo.passwordFile;
  else if (repo.passwordCommand) env.RESTIC_PASSWORD_COMMAND = repo.passwordCommand;
  else if (repo.passwordFromEnv && base.RESTIC_PASSWORD !== undefined) env.RESTIC_PASSWORD = base.RESTIC_PASSWORD;
  // restic's progress lines are for terminals; hv draws its own from --json status lines.
  env.RESTIC_PROGRESS_FPS = "2";
  return env;
}

export async function restic(repo: ResticRepo, args: string[], run: ResticRun = {}): Promise<ResticResult> {
  await mkdir(repo.cacheDir, { recursive: true, mode: 0o700 });
  const full = [...repo.options.flatMap((o) => ["-o", o]), ...args];
  const child = startProgram("restic", full, {
    reject: false,
    stdin: "ignore",
    env: resticEnv(repo),
    extendEnv: false,
    ...(run.cwd ? { cwd: run.cwd } : {}),
    ...(run.signal ? { cancelSignal: run.signal } : {}),
    ...(run.stdoutFile ? { stdout: { file: run.stdoutFile } } : {}),
    // A dump of a disk image is large: keep only what is needed of a huge stdout.
    maxBuffer: 256 * 1024 * 1024,
  }, repo.binary);
  if (run.onJson && child.stdout) {
    child.stdout.pipe(split2()).on("data", (line: string) => {
      if (!line.startsWith("{")) return;
      try {
        run.onJson!(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial or non-JSON line: restic also prints plain text in places
      }
    });
  }
  const r = await child;
  const stderr = String(r.stderr ?? "");
  const stdout = run.stdoutFile ? "" : String(r.stdout ?? "");
  if (isNotFound(r)) throw new BackupError("missing-restic", new MissingProgramError("restic", repo.binary).message);
  const exitCode = r.exitCode ?? -1;
  if (exitCode === 0 || run.okExitCodes?.includes(exitCode)) return { exitCode, stdout, stderr };
  if (r.isCanceled) throw new BackupError("failed", `restic ${args[0]} was cancelled`);
  throw classify(repo, args[0] ?? "", exitCode, stderr || stdout);
}

/** Parses restic's --json output that is one JSON document (snapshots, forget, …). */
export function parseJson<T>(what: string, text: string): T {
  // Some commands print plain lines before the document (e.g. "using temporary cache").
  const start = text.search(/^[[{]/m);
  try {
    return JSON.parse(start >= 0 ? text.slice(start) : text) as T;
  } catch (err) {
    throw new BackupError("failed", `restic ${what} printed output hv cannot read: ${(err as Error).message}`);
  }
}

function classify(repo: ResticRepo, command: string, exitCode: number, output: string): BackupError {
  const where = redactRepository(repo.repository);
  const text = output.replaceAll(repo.repository, where);
  if (/Is there a repository at the following location|repository does not exist|unable to open config file|config file does not exist/i.test(text)) {
    return new BackupError("no-repository", `there is no restic repository at ${where} (make one with: hv backup init)`);
  }
  if (/wrong password or no key found/i.test(text)) return new BackupError("wrong-password", `the password does not open the repository at ${where} (check backup.passwordFile / --password-file)`);
  if (/(Resolving password failed|reading password|password-(file|command)|Fatal: .*password)/i.test(text)) {
    return new BackupError("wrong-password", `restic could not read the repository password: ${lastLines(text)}`);
  }
  if (/repository is already locked/i.test(text)) return new BackupError("locked", `the repository at ${where} is locked by another restic (${lastLines(text)}); if none runs, \`restic unlock\` clears a stale lock`);
  if (/no matching ID found|not found in (repository|snapshot)|path .* not found in snapshot|cannot dump file/i.test(text)) return new BackupError("not-found", lastLines(text));
  return new BackupError("failed", `restic ${command} failed (exit ${exitCode}): ${lastLines(text)}`);
}

function lastLines(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !/^\[\d+:\d+\]/.test(l));
  return lines.slice(-4).join("; ") || "(no message)";
}
