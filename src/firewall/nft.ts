// Runs `nft -j`, optionally inside a network namespace. Commands go in as one JSON document
// (`nft -j -f FILE`), which nft applies as ONE transaction: all of it or nothing. The document is
// a private temp file rather than stdin because Node gives a child a socket, not a pipe, for
// stdin, and nft opens /dev/stdin by path, which fails on a socket (ENXIO).

import { runProgram, type ProgramOptions, type ProgramResult } from "../events/programs.js";
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

/** Runs nft (inside `ip netns exec` when a namespace is given). A missing nft or ip throws MissingProgramError. */
function runNft(opts: NftOptions, args: string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  const nft = opts.nft ?? "nft";
  if (opts.netns) return runProgram("ip", ["netns", "exec", opts.netns, nft, ...args], options);
  return runProgram("nft", args, options, nft);
}

/** Applies commands in one transaction. Throws NftError (with nft's message) if any is refused. */
export async function applyCommands(commands: NftCommand[], opts: NftOptions = {}): Promise<void> {
  if (commands.length === 0) return;
  const dir = await mkdtemp(join(tmpdir(), "hv-nft-"));
  const path = join(dir, "batch.json");
  let r;
  try {
    await writeFile(path, JSON.stringify({ nftables: commands }), { mode: 0o600 });
    r = await runNft(opts, ["-j", "-f", path]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (r.exitCode !== 0) {
    const stderr = r.stderr;
    throw new NftError(`nft refused the batch (${commands.length} commands, nothing applied): ${firstLines(stderr)}`, stderr);
  }
}

/** `nft -j list …`: the listed objects (metainfo dropped), or undefined when the object does not exist. */
export async function listObjects(what: string[], opts: NftOptions = {}): Promise<NftObject[] | undefined> {
  const r = await runNft(opts, ["-j", "list", ...what], { maxBuffer: 1024 * 1024 * 1024 });
  if (r.exitCode !== 0) {
    const stderr = r.stderr;
    // nft's own "Error: No such file or directory" means the object is absent; ip's "Cannot open
    // network namespace …: No such file or directory" is a real failure.
    if (/^Error: No such file or directory/m.test(stderr) && !/Cannot open network namespace/.test(stderr)) return undefined;
    throw new NftError(`nft -j list ${what.join(" ")} failed: ${firstLines(stderr)}`, stderr);
  }
  const doc = JSON.parse(r.stdout) as { nftables?: NftObject[] };
  return (doc.nftables ?? []).filter((o) => !("metainfo" in o));
}

/** Whether `nft` can run here (and list the ruleset), or why not. */
export async function whyNoNft(opts: NftOptions = {}): Promise<string | undefined> {
  try {
    const r = await runNft(opts, ["-j", "list", "tables"]);
    if (r.exitCode !== 0) return `nft -j list tables failed: ${firstLines(r.stderr)}`;
    return undefined;
  } catch (err) {
    return `cannot run nft: ${(err as Error).message}`;
  }
}

function firstLines(text: string): string {
  return text.trim().split("\n").slice(0, 6).join(" | ") || "(no message)";
}
