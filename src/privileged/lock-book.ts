// Which accounts the privileged helper locked, and what they were before. An unlock request is
// honoured only for an account in the book, and restores what the book says — not what the client
// claims — so whoever can reach the socket can undo hv's own locks and nothing else.

import { existsSync, readFileSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ShadowState } from "./protocol.js";

export interface LockBook {
  get(user: string): ShadowState | undefined;
  record(user: string, previous: ShadowState): Promise<void>;
  remove(user: string): Promise<void>;
}

export async function openLockBook(dir: string): Promise<LockBook> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, "locks.json");
  const locks = new Map<string, { previous: ShadowState; at: string }>(existsSync(file) ? Object.entries(JSON.parse(readFileSync(file, "utf8")) as Record<string, { previous: ShadowState; at: string }>) : []);
  // Written whole to a temp file and renamed: a crash leaves the old book or the new, never half.
  const save = async (): Promise<void> => {
    const tmp = `${file}.tmp`;
    await writeFile(tmp, JSON.stringify(Object.fromEntries(locks), null, 2) + "\n", { mode: 0o600 });
    await rename(tmp, file);
  };
  return {
    get: (user) => locks.get(user)?.previous,
    async record(user, previous) {
      locks.set(user, { previous, at: new Date().toISOString() });
      await save();
    },
    async remove(user) {
      if (locks.delete(user)) await save();
    },
  };
}
