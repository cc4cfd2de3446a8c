// Every external program hv runs, in one place: what hv needs it for and which package provides
// it on Debian and in nixpkgs. A run of a missing program fails with MissingProgramError, which
// names the program and its package; `docs/dependencies.md` is this table (a test keeps them
// equal), the Nix package puts exactly these on hv's PATH (a test compares nix/package.nix), and a
// test fails when src/ runs a program that is not listed here.
//
// Programs hv runs on the operator's behalf — $EDITOR for `hv vm edit`, the allowlisted command of
// a playbook's `run` action — are the operator's choice and not listed.

import { execa, type Options, type ResultPromise } from "execa";
import { accessSync, constants } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

export interface ProgramInfo {
  /** Debian (and Ubuntu) package. */
  debian: string;
  /** nixpkgs attribute. */
  nix: string;
  /** What hv needs it for, completing "hv needs it for …". */
  usedFor: string;
  /** hv works without it (it tries an alternative, or the feature says it is unavailable). */
  optional?: boolean;
}

export const PROGRAMS = {
  virsh: { debian: "libvirt-clients", nix: "libvirt", usedFor: "the VM surface (hv vm, net, pool, volume), the libvirt collector and forensic memory dumps" },
  "qemu-img": { debian: "qemu-utils", nix: "qemu-utils", usedFor: "disk images: creating, resizing, cloning, snapshots and forensic disk copies" },
  nft: { debian: "nftables", nix: "nftables", usedFor: "hv's nftables tables: quarantines, blocks, rate limits and feed blocklists" },
  conntrack: { debian: "conntrack", nix: "conntrack-tools", usedFor: "the conntrack flow collector" },
  ip: { debian: "iproute2", nix: "iproute2", usedFor: "network devices and addresses, and running tools inside network namespaces" },
  restic: { debian: "restic", nix: "restic", usedFor: "VM backups (hv backup, the backup_vm action)" },
  tcpdump: { debian: "tcpdump", nix: "tcpdump", usedFor: "packet captures of a VM's traffic (forensics, capture_pcap)" },
  ps: { debian: "procps", nix: "procps", usedFor: "the process tree in forensic bundles" },
  tar: { debian: "tar", nix: "gnutar", usedFor: "exporting forensic bundles" },
  gzip: { debian: "gzip", nix: "gzip", usedFor: "compressing exported forensic bundles (run by tar)" },
  getent: { debian: "libc-bin", nix: "getent", usedFor: "looking up accounts and groups in the privileged helper" },
  auditctl: { debian: "auditd", nix: "audit", usedFor: "reading the host's audit status and its loaded audit rules" },
  usermod: { debian: "passwd", nix: "shadow", usedFor: "locking and unlocking accounts (lock_account)" },
  "cloud-localds": { debian: "cloud-image-utils", nix: "cloud-utils", usedFor: "cloud-init seed ISOs for hv vm create (first choice)", optional: true },
  genisoimage: { debian: "genisoimage", nix: "cdrkit", usedFor: "cloud-init seed ISOs for hv vm create (when cloud-localds is missing)", optional: true },
  xorriso: { debian: "xorriso", nix: "xorriso", usedFor: "cloud-init seed ISOs for hv vm create (when the other two are missing)", optional: true },
  // Installing hv as services outside NixOS (hv service install); NixOS's module does it there.
  "systemd-sysusers": { debian: "systemd", nix: "systemd", usedFor: "creating the hv system user when installing the services (hv service install)", optional: true },
  systemctl: { debian: "systemd", nix: "systemd", usedFor: "reloading and starting the installed services (hv service install --now)", optional: true },
  augenrules: { debian: "auditd", nix: "audit", usedFor: "loading the audit rules hv installs into /etc/audit/rules.d (hv service install --now)", optional: true },
} as const satisfies Record<string, ProgramInfo>;

export type Program = keyof typeof PROGRAMS;

export class MissingProgramError extends Error {
  override readonly name = "MissingProgramError";
  constructor(
    readonly program: Program,
    /** The file hv tried to run, when it is not the program's own name (a configured path). */
    readonly file: string = program,
  ) {
    const p: ProgramInfo = PROGRAMS[program];
    super(`${file === program ? program : `${program} (${file})`} is not installed or not on PATH: hv needs it for ${p.usedFor} (Debian: apt-get install ${p.debian}; Nix: ${p.nix})`);
  }
}

/** A spawn failure (execa result or error, or node's spawn error) that means "no such program". */
export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; exitCode?: unknown; errno?: unknown } | null | undefined;
  return e?.code === "ENOENT" && e.exitCode === undefined;
}

/** What a run of a program gave (execa's result, reduced to what callers read). */
export interface ProgramResult {
  /** undefined when it did not exit by itself (killed, timed out). */
  exitCode?: number;
  signal?: string;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  isMaxBuffer: boolean;
  /** execa's one-line account of a failure ("Command failed with exit code 1: …"). */
  shortMessage: string;
}

export type ProgramOptions = Pick<Options, "timeout" | "env" | "stdin" | "stdio" | "maxBuffer" | "stripFinalNewline" | "cwd" | "input" | "cancelSignal">;

/**
 * Runs a listed program once and returns what it gave (never rejecting for a non-zero exit);
 * a missing program throws MissingProgramError. `file` runs another path for the same program
 * (a configured binary, a test wrapper).
 */
export async function runProgram(program: Program, args: readonly string[], options: ProgramOptions = {}, file: string = program): Promise<ProgramResult> {
  const r = await execa(file, args, { ...options, reject: false });
  if (isNotFound(r)) throw new MissingProgramError(program, file);
  return {
    ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    ...(r.signal !== undefined ? { signal: r.signal } : {}),
    stdout: typeof r.stdout === "string" ? r.stdout : "",
    stderr: typeof r.stderr === "string" ? r.stderr : "",
    timedOut: r.timedOut,
    isMaxBuffer: r.isMaxBuffer,
    shortMessage: r.shortMessage ?? "",
  };
}

/**
 * Starts a listed program that keeps running (a stream, a long copy) and returns execa's
 * subprocess. The caller awaits it and passes what it got to `isNotFound` or `throwIfNotFound`.
 */
export function startProgram<O extends Options>(program: Program, args: readonly string[], options: O, file: string = program): ResultPromise<O> {
  // execa's overloads widen the options type to `{} & O`, which TypeScript will not narrow back.
  return execa(file, args, options) as unknown as ResultPromise<O>;
}

/** Turns "the program does not exist" (from startProgram's result or a spawn error) into MissingProgramError. */
export function throwIfNotFound(program: Program, resultOrError: unknown, file: string = program): void {
  if (isNotFound(resultOrError)) throw new MissingProgramError(program, file);
}

/** Where a program would be found on PATH (or the absolute path itself when executable), else undefined. */
export function findProgram(file: string, path = process.env.PATH ?? ""): string | undefined {
  const candidates = isAbsolute(file) ? [file] : path.split(delimiter).filter(Boolean).map((dir) => join(dir, file));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  return undefined;
}

export interface ProgramStatus extends ProgramInfo {
  program: Program;
  /** Absolute path on PATH, when found. */
  path?: string;
}

/** Each listed program with where it is found (for `hv doctor` and the docs). */
export function programStatus(path = process.env.PATH ?? ""): ProgramStatus[] {
  return (Object.keys(PROGRAMS) as Program[]).map((program) => {
    const found = findProgram(program, path);
    return { program, ...PROGRAMS[program], ...(found ? { path: found } : {}) };
  });
}

/** The Markdown table of docs/dependencies.md, generated from PROGRAMS. */
export function programsMarkdownTable(): string {
  const rows = (Object.entries(PROGRAMS) as [Program, ProgramInfo][]).map(([name, p]) => `| \`${name}\` | ${p.debian} | ${p.nix} | ${p.optional ? "optional: " : ""}${p.usedFor} |`);
  return ["| program | Debian package | nixpkgs | hv needs it for |", "|---|---|---|---|", ...rows].join("\n");
}
