// Runs `nft -j`, optionally inside a network namespace. Commands go in as one JSON document
// (`nft -j -f FILE`), which nft applies as ONE transaction: all of it or nothing. The document is
// a private temp file rather than stdin because Node gives a child a socket, not a pipe, for
// stdin, and nft opens /dev/stdin by path, which fails on a socket (ENXIO).

import { execa } from "execa";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NftOptions } from "./state.js";

export class NftError extends Error {
  constructor(message: string, readonly stderr: string) {
    super(message);
    this.name = "NftError";
  }
}

export type NftCommand = Record<string, unknown>;
export type NftObject = Record<string, Record<string, unknown>>;

function command(opts: NftOptions, args: string[]): { file: string; args: string[] } {
  const nft = opts.nft ?? "nft";
  if (opts.netns) return { file: "ip", args: ["netns", "exec", opts.netns, nft, ...args] };
  return { file: nft, args };
}

/** Applies commands in one transaction. Throws NftError (with nft's message) if any is refused. */
export async function applyCommands(commands: NftCommand[], opts: NftOptions = {}): Promise<void> {
  if (commands.length === 0) return;
  const dir = await mkdtemp(join(tmpdir(), "hv-nft-"));
  const path = join(dir, "batch.json");
  let r;
  try {
    await writeFile(path, JSON.stringify({ nftables: commands }), { mode: 0o600 });
    const { file, args } = command(opts, ["-j", "-f", path]);
    r = await execa(file, args, { reject: false });
    cannotRun(r, file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (r.exitCode !== 0) {
    const stderr = String(r.stderr ?? "");
    throw new NftError(`nft refused the batch (${commands.length} commands, nothing applied): ${firstLines(stderr)}`, stderr);
  }
}

/** `nft -j list …`: the listed objects (metainfo dropped), or undefined when the object does not exist. */
export async function listObjects(what: string[], opts: NftOptions = {}): Promise<NftObject[] | undefined> {
  const { file, args } = command(opts, ["-j", "list", ...what]);
  const r = await execa(file, args, { reject: false, maxBuffer: 1024 * 1024 * 1024 });
  cannotRun(r, file);
  if (r.exitCode !== 0) {
    const stderr = String(r.stderr ?? "");
    // nft's own "Error: No such file or directory" means the object is absent; ip's "Cannot open
    // network namespace …: No such file or directory" is a real failure.
    if (/^Error: No such file or directory/m.test(stderr) && !/Cannot open network namespace/.test(stderr)) return undefined;
    throw new NftError(`nft -j list ${what.join(" ")} failed: ${firstLines(stderr)}`, stderr);
  }
  const doc = JSON.parse(String(r.stdout)) as { nftables?: NftObject[] };
  return (doc.nftables ?? []).filter((o) => !("metainfo" in o));
}

/** Whether `nft` can run here (and list the ruleset), or why not. */
export async function whyNoNft(opts: NftOptions = {}): Promise<string | undefined> {
  const { file, args } = command(opts, ["-j", "list", "tables"]);
  try {
    const r = await execa(file, args, { reject: false });
    if (r.exitCode !== 0) return `nft -j list tables failed: ${firstLines(String(r.stderr ?? ""))}`;
    return undefined;
  } catch (err) {
    return `cannot run nft: ${(err as Error).message}`;
  }
}

/** A process that never ran (missing binary, no permission) is not "nft refused". */
function cannotRun(r: { exitCode?: number; message?: string }, file: string): void {
  if (r.exitCode === undefined) throw new NftError(`cannot run ${file}: ${r.message ?? "unknown error"} (is nftables installed, and are you root?)`, "");
}

function firstLines(text: string): string {
  return text.trim().split("\n").slice(0, 6).join(" | ") || "(no message)";
}
