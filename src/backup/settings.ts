import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

// Where backups go and how the repository is opened: the `backup:` section of hv's config, the
// command-line flags over it, and restic's own environment variables under both. The password is
// only ever a file or a command handed to restic through its environment (RESTIC_PASSWORD_FILE,
// RESTIC_PASSWORD_COMMAND): never an argument, so it shows in no process list and no log.

const keepCount = z.number().int().min(1);

/** restic's forget policy (docs/backup.md); at least one rule. */
export const keepPolicySchema = z
  .object({
    last: keepCount.optional(),
    hourly: keepCount.optional(),
    daily: keepCount.optional(),
    weekly: keepCount.optional(),
    monthly: keepCount.optional(),
    yearly: keepCount.optional(),
    /** restic's duration grammar: 1y5m7d2h. */
    within: z.string().regex(/^(\d+[ymdh])+$/, "must look like 7d, 2m or 1y6m").optional(),
  })
  .strict();

export type KeepPolicy = z.infer<typeof keepPolicySchema>;

export const backupConfigSchema = z
  .object({
    /** A restic repository: a directory, sftp:user@host:/path, rest:https://host/path, s3:…, … */
    repository: z.string().min(1),
    /** A file holding the repository password (default: STATE/backup/password). */
    passwordFile: z.string().min(1).optional(),
    /** A command printing the password (restic runs it itself, without a shell). */
    passwordCommand: z.string().min(1).optional(),
    /** Where disk images are staged before restic reads them (default: STATE/backup/staging). */
    stagingDir: z.string().min(1).optional(),
    /** Extended options for restic (`-o key=value`), e.g. sftp.command=…. */
    resticOptions: z.array(z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*=/, "must look like key=value")).optional(),
    /** What `hv backup forget` keeps when given no --keep-* flag (and the schedule after each run). */
    keep: keepPolicySchema.optional(),
    /** The VMs a scheduled `hv backup create --all` backs up (default: every defined VM). */
    vms: z.array(z.string().min(1)).optional(),
  })
  .strict()
  .refine((b) => !(b.passwordFile && b.passwordCommand), "set passwordFile or passwordCommand, not both");

export type BackupConfig = z.infer<typeof backupConfigSchema>;

/** Everything restic needs to open the repository. */
export interface ResticRepo {
  repository: string;
  /** Exactly one of the three is used: a file, a command, or RESTIC_PASSWORD from hv's own environment. */
  passwordFile?: string;
  passwordCommand?: string;
  passwordFromEnv?: boolean;
  /** `-o key=value` options. */
  options: string[];
  /** restic's cache (RESTIC_CACHE_DIR), kept under hv's state directory. */
  cacheDir: string;
  /** The restic binary (tests point it elsewhere). */
  binary: string;
}

export interface BackupFlags {
  repo?: string;
  passwordFile?: string;
  passwordCommand?: string;
}

/** STATE/backup: the default password file, the staging area and restic's cache live here. */
export function backupDir(stateDir: string): string {
  return join(stateDir, "backup");
}

export function defaultPasswordFile(stateDir: string): string {
  return join(backupDir(stateDir), "password");
}

export function stagingRoot(stateDir: string, config?: BackupConfig): string {
  return config?.stagingDir ?? join(backupDir(stateDir), "staging");
}

/**
 * The repository from flags, else the config, else $RESTIC_REPOSITORY; the password from flags,
 * else the config, else $RESTIC_PASSWORD_FILE / $RESTIC_PASSWORD_COMMAND / $RESTIC_PASSWORD, else
 * STATE/backup/password.
 */
export function resolveRepo(stateDir: string, config: BackupConfig | undefined, flags: BackupFlags = {}, env: NodeJS.ProcessEnv = process.env): ResticRepo {
  const repository = flags.repo ?? config?.repository ?? env.RESTIC_REPOSITORY;
  if (!repository) throw new Error("no backup repository: give --repo DIR|URL or set backup.repository in hv's config");
  if (flags.passwordFile && flags.passwordCommand) throw new Error("give --password-file or --password-command, not both");
  const base = { repository, options: config?.resticOptions ?? [], cacheDir: join(backupDir(stateDir), "cache"), binary: env.HV_RESTIC ?? "restic" };
  const fromFlags = flags.passwordFile ? { passwordFile: flags.passwordFile } : flags.passwordCommand ? { passwordCommand: flags.passwordCommand } : undefined;
  const fromConfig = config?.passwordFile ? { passwordFile: config.passwordFile } : config?.passwordCommand ? { passwordCommand: config.passwordCommand } : undefined;
  const fromEnv = env.RESTIC_PASSWORD_FILE
    ? { passwordFile: env.RESTIC_PASSWORD_FILE }
    : env.RESTIC_PASSWORD_COMMAND
      ? { passwordCommand: env.RESTIC_PASSWORD_COMMAND }
      : env.RESTIC_PASSWORD
        ? { passwordFromEnv: true }
        : undefined;
  return { ...base, ...(fromFlags ?? fromConfig ?? fromEnv ?? { passwordFile: defaultPasswordFile(stateDir) }) };
}

/** The repository as it may be shown: a password inside a URL (rest:https://user:pw@host/) becomes ***. */
export function redactRepository(repository: string): string {
  return repository.replace(/(\/\/[^/@:\s]*:)[^/@\s]*@/, "$1***@");
}

/** Whether the default password file is the one in use and does not exist yet (init makes it). */
export function needsDefaultPassword(repo: ResticRepo, stateDir: string): boolean {
  return repo.passwordFile === defaultPasswordFile(stateDir) && !existsSync(repo.passwordFile);
}
