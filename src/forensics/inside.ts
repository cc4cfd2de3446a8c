// Reading and appending to the files of a bundle without ever leaving it. A bundle comes from
// wherever someone copied it: its manifest names the paths, and any directory in it may be a
// symlink to /etc. Every path is relative, has no "." or ".." parts, and every part of it is
// checked with lstat (directories real, the file regular, nothing a symlink); the file is then
// opened with O_NOFOLLOW and checked again through its descriptor, so a swap between the check
// and the open is refused too.

import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, openSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { readFdCapped } from "../events/input.js";

export class OutsideBundleError extends Error {
  override readonly name = "OutsideBundleError";
}

/** Why `rel` cannot name a file inside a bundle, or undefined when its form is fine. */
export function badBundlePath(rel: unknown): string | undefined {
  if (typeof rel !== "string" || rel === "") return "is not a relative path";
  if (rel.startsWith("/")) return "is absolute";
  if (rel.includes("\\") || rel.includes("\u0000")) return "holds a backslash or NUL";
  if (rel.split("/").some((p) => p === "" || p === "." || p === "..")) return "has an empty, '.' or '..' part";
  return undefined;
}

/**
 * The full path of `rel` inside `dir` once every part of it was checked; undefined when the file
 * does not exist. Throws OutsideBundleError for a symlink, a non-directory on the way or a
 * non-regular file.
 */
export function insidePath(dir: string, rel: string): string | undefined {
  const bad = badBundlePath(rel);
  if (bad) throw new OutsideBundleError(`${JSON.stringify(rel)} ${bad}`);
  const parts = rel.split("/");
  let at = dir;
  for (const [i, part] of parts.entries()) {
    at = join(at, part);
    let st;
    try {
      st = lstatSync(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
      throw err;
    }
    const shown = parts.slice(0, i + 1).join("/");
    if (st.isSymbolicLink()) throw new OutsideBundleError(`${shown} is a symbolic link: a bundle holds none, and hv does not follow one out of it`);
    const last = i === parts.length - 1;
    if (!last && !st.isDirectory()) throw new OutsideBundleError(`${shown} is not a directory`);
    if (last && !st.isFile()) throw new OutsideBundleError(`${shown} is not a regular file`);
  }
  return at;
}

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/** Opens a checked path without following a symlink put there since, and checks it is still a regular file. */
function openChecked(path: string, flags: number, mode?: number): number {
  let fd: number;
  try {
    fd = openSync(path, flags | NOFOLLOW, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new OutsideBundleError(`${path} became a symbolic link`);
    throw err;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new OutsideBundleError(`${path} is not a regular file`);
  }
  return fd;
}

/** A bundle file's bytes (at most `cap`), or undefined when it does not exist. */
export function readInside(dir: string, rel: string, cap: number): Buffer | undefined {
  const path = insidePath(dir, rel);
  if (path === undefined) return undefined;
  const fd = openChecked(path, constants.O_RDONLY);
  try {
    return readFdCapped(fd, cap, rel);
  } finally {
    closeSync(fd);
  }
}

/** Appends to a bundle file (creating it, mode 0600), never through a symlink. */
export function appendInside(dir: string, rel: string, text: string): void {
  const existing = insidePath(dir, rel);
  const fd = openChecked(existing ?? join(dir, rel), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** SHA-256 and size of a bundle file, streamed (memory images are as big as the guest's RAM). */
export async function sha256Inside(dir: string, rel: string, onBytes?: (n: number) => void): Promise<{ sha256: string; size: number } | undefined> {
  const path = insidePath(dir, rel);
  if (path === undefined) return undefined;
  const fh = await open(path, constants.O_RDONLY | NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
    throw err.code === "ELOOP" ? new OutsideBundleError(`${rel} became a symbolic link`) : err;
  });
  try {
    if (!(await fh.stat()).isFile()) throw new OutsideBundleError(`${rel} is not a regular file`);
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
      const buf = chunk as Buffer;
      hash.update(buf);
      size += buf.length;
      onBytes?.(buf.length);
    }
    return { sha256: hash.digest("hex"), size };
  } finally {
    await fh.close();
  }
}
