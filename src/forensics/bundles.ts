import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { sha256File } from "./hash.js";
import { InputError } from "../events/input.js";
import { runProgram } from "../events/programs.js";
import { CONTROL_FILES, readManifest } from "./manifest.js";

// Where bundles live and how hv finds them again: STATE/forensics/bundles/ID by default, or
// anywhere with --out; every capture is recorded in STATE/forensics/index.jsonl so `list`,
// `show ID` and `verify ID` find bundles outside the default directory too.

export interface BundleRef {
  id: string;
  path: string;
  vm: string;
  created: string;
}

export interface BundleListing extends BundleRef {
  by?: string;
  artifacts?: number;
  bytes?: number;
  /** False when the index names a directory that is gone. */
  exists: boolean;
}

export function bundlesDir(stateDir: string): string {
  return join(stateDir, "forensics", "bundles");
}

/** 20240501T101500Z-web1-3fa9c2: sorts by time, names the VM, unique. */
export function newBundleId(vm: string, now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${t}-${vm.replace(/[^A-Za-z0-9_.-]/g, "_")}-${randomBytes(3).toString("hex")}`;
}

export function isBundleId(s: string): boolean {
  return /^\d{8}T\d{6}Z-[A-Za-z0-9_.-]+-[0-9a-f]{6}$/.test(s);
}

export async function recordBundle(stateDir: string, ref: BundleRef): Promise<void> {
  await mkdir(join(stateDir, "forensics"), { recursive: true, mode: 0o700 });
  await appendFile(join(stateDir, "forensics", "index.jsonl"), JSON.stringify(ref) + "\n", { mode: 0o600 });
}

async function indexed(stateDir: string): Promise<BundleRef[]> {
  const text = await readFile(join(stateDir, "forensics", "index.jsonl"), "utf8").catch(() => "");
  const refs: BundleRef[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      refs.push(JSON.parse(line) as BundleRef);
    } catch {
      // a torn last line of a crashed capture; the bundle directory scan still finds it
    }
  }
  return refs;
}

/** Every bundle hv knows: the index plus the default directory, oldest first. */
export async function listBundles(stateDir: string): Promise<BundleListing[]> {
  const byId = new Map<string, BundleRef>();
  for (const r of await indexed(stateDir)) byId.set(r.id, r);
  const dir = bundlesDir(stateDir);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!byId.has(name)) byId.set(name, { id: name, path: join(dir, name), vm: "", created: "" });
  }
  const out: BundleListing[] = [];
  for (const ref of byId.values()) {
    const listing: BundleListing = { ...ref, exists: existsSync(ref.path) };
    try {
      const m = readManifest(ref.path).manifest;
      if (m) Object.assign(listing, { vm: m.vm.name, created: m.created, by: m.by, artifacts: m.artifacts.length, bytes: m.artifacts.reduce((s, a) => s + a.size, 0) });
    } catch {
      // listed without details: an unfinished or damaged bundle (verify says which)
    }
    out.push(listing);
  }
  return out.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
}

/**
 * A bundle directory from an id (index or default directory) or a path. A path must be a real
 * directory (not a symlink to one) holding at least one of a bundle's control files: anything
 * else (/etc, a home directory) is refused before hv reads or writes a byte of it.
 */
export async function resolveBundle(stateDir: string, idOrPath: string): Promise<{ id: string; path: string }> {
  if (idOrPath.includes("/") || idOrPath === "." || idOrPath === "..") return checkedBundle(idOrPath);
  const hit = (await indexed(stateDir)).reverse().find((r) => r.id === idOrPath);
  if (hit) return { ...(await checkedBundle(hit.path)), id: hit.id };
  const path = join(bundlesDir(stateDir), idOrPath);
  if (existsSync(path)) return { ...(await checkedBundle(path)), id: idOrPath };
  if (existsSync(idOrPath)) return checkedBundle(idOrPath);
  throw new InputError(`no forensic bundle ${JSON.stringify(idOrPath)} (hv forensics list shows them)`);
}

async function checkedBundle(given: string): Promise<{ id: string; path: string }> {
  const path = resolve(given);
  const st = await lstat(path).catch(() => undefined);
  if (!st) throw new InputError(`${given}: no such bundle directory`);
  if (st.isSymbolicLink()) throw new InputError(`${given} is a symbolic link: give the bundle directory itself`);
  if (!st.isDirectory()) throw new InputError(`${given} is not a bundle directory`);
  const has = await Promise.all(CONTROL_FILES.map((f) => lstat(join(path, f)).then((s) => s.isFile(), () => false)));
  if (!has.some(Boolean)) throw new InputError(`${given} is not a forensic bundle: it holds none of ${CONTROL_FILES.join(", ")}`);
  return { id: basename(path), path };
}

/** Packs the bundle directory into a .tar.gz with the tar binary; returns the archive's hash. */
export async function tarBundle(path: string, outFile: string): Promise<{ file: string; bytes: number; sha256: string }> {
  const file = resolve(outFile);
  if (file.startsWith(resolve(path) + "/")) throw new Error(`the archive ${outFile} cannot be inside the bundle it packs`);
  const r = await runProgram("tar", ["--create", "--gzip", "--file", file, "--directory", dirname(resolve(path)), "--", basename(resolve(path))], { stdin: "ignore" });
  if (r.exitCode !== 0) throw new Error(`tar failed (exit ${r.exitCode}): ${String(r.stderr).trim()}`);
  const { sha256, size } = await sha256File(file);
  return { file, bytes: size, sha256 };
}

/**
 * Unpacks an archive made by tarBundle into a fresh temp directory (the caller removes `dir`)
 * and returns the bundle inside it. The listing is checked first: one top-level directory holding
 * only plain files and directories, no absolute or `..` names — anything else is refused unread.
 */
export async function unpackBundle(archive: string): Promise<{ dir: string; path: string; sha256: string }> {
  const list = await runProgram("tar", ["--list", "--verbose", "--gzip", "--file", archive], { stdin: "ignore", maxBuffer: 64 * 1024 * 1024 });
  if (list.exitCode !== 0) throw new InputError(`${archive} is not a .tar.gz that hv forensics export wrote: ${list.stderr.trim() || `tar exit ${list.exitCode}`}`);
  const tops = new Set<string>();
  for (const line of list.stdout.split("\n").filter(Boolean)) {
    // "-rw-r----- root/root 123 2026-05-01 10:15 ID/manifest.json": type, mode, owner, size, date, time, name.
    const m = /^(\S)\S*\s+\S+\s+\d+\s+\S+\s+\S+\s(.+)$/.exec(line);
    if (!m) throw new InputError(`${archive}: cannot read the listing line ${JSON.stringify(line)}`);
    const [, type, name] = m as unknown as [string, string, string];
    if (type !== "-" && type !== "d") throw new InputError(`${archive} holds ${name}, which is not a plain file or directory: refused, not unpacked`);
    if (name.startsWith("/") || name.split("/").includes("..")) throw new InputError(`${archive} holds ${name}, a name outside the bundle: refused, not unpacked`);
    tops.add(name.split("/")[0]!);
  }
  if (tops.size !== 1) throw new InputError(`${archive} should hold one bundle directory, it holds ${tops.size === 0 ? "nothing" : [...tops].join(", ")}`);
  const dir = await mkdtemp(join(tmpdir(), "hv-bundle-"));
  try {
    const r = await runProgram("tar", ["--extract", "--gzip", "--file", archive, "--directory", dir, "--no-same-owner", "--no-same-permissions"], { stdin: "ignore" });
    if (r.exitCode !== 0) throw new Error(`tar could not unpack ${archive}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
    return { dir, path: join(dir, [...tops][0]!), sha256: (await sha256File(archive)).sha256 };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** True when `idOrPath` names a file (an exported archive), not a bundle id or directory. */
export async function isArchive(idOrPath: string): Promise<boolean> {
  return (await stat(idOrPath).catch(() => undefined))?.isFile() === true;
}
