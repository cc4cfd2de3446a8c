import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { BackupError, restic } from "./restic.js";
import { needsDefaultPassword, redactRepository, type ResticRepo } from "./settings.js";

// `hv backup init`: makes the restic repository. When no password was configured, hv makes one —
// 32 random bytes in STATE/backup/password, readable by root only — and says where it is: without
// it the backups cannot be read, so it must be kept somewhere else too.

export interface InitResult {
  repository: string;
  created: boolean;
  /** The password file hv made (absent when one was configured or already there). */
  passwordFileCreated?: string;
}

export async function initRepository(repo: ResticRepo, stateDir: string): Promise<InitResult> {
  let passwordFileCreated: string | undefined;
  if (needsDefaultPassword(repo, stateDir)) {
    await mkdir(dirname(repo.passwordFile!), { recursive: true, mode: 0o700 });
    await writeFile(repo.passwordFile!, randomBytes(32).toString("base64url") + "\n", { mode: 0o600, flag: "wx" });
    passwordFileCreated = repo.passwordFile;
  }
  const repository = redactRepository(repo.repository);
  // `restic cat config` answers only for an existing repository that this password opens.
  try {
    await restic(repo, ["cat", "config"]);
    return { repository, created: false };
  } catch (err) {
    if (!(err instanceof BackupError) || err.code !== "no-repository") throw err;
  }
  await restic(repo, ["init"]);
  return { repository, created: true, ...(passwordFileCreated ? { passwordFileCreated } : {}) };
}
