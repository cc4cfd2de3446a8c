import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { LibvirtError } from "../events/libvirt-error.js";
import { MissingProgramError, PROGRAMS, runProgram, type Program } from "../events/programs.js";

// A cloud-init NoCloud seed: an ISO 9660 image labelled `cidata` holding user-data and
// meta-data. cloud-localds (Debian: cloud-image-utils) is the usual tool; genisoimage and
// xorriso make the same image.

/** The tools that can build the seed, in the order they are tried. */
export const SEED_TOOLS: readonly Program[] = ["cloud-localds", "genisoimage", "xorriso"];

export interface SeedInput {
  hostname: string;
  user: string;
  sshAuthorizedKeys: string[];
  packages: string[];
  /** A whole user-data document, used as is. */
  userData?: string;
}

export function userDataOf(s: SeedInput): string {
  if (s.userData !== undefined) return s.userData;
  const config: Record<string, unknown> = {
    hostname: s.hostname,
    users: [{ name: s.user, sudo: "ALL=(ALL) NOPASSWD:ALL", shell: "/bin/sh", ssh_authorized_keys: s.sshAuthorizedKeys }],
    ssh_pwauth: false,
  };
  if (s.packages.length) config.packages = s.packages;
  return `#cloud-config\n${stringify(config)}`;
}

/** Builds the seed ISO in a fresh temp dir; the caller removes `dir` when done. */
export async function buildSeedIso(s: SeedInput): Promise<{ dir: string; iso: string; bytes: number; tool: string }> {
  const dir = await mkdtemp(join(tmpdir(), "hv-seed-"));
  try {
    const userData = join(dir, "user-data");
    const metaData = join(dir, "meta-data");
    const iso = join(dir, "seed.iso");
    await writeFile(userData, userDataOf(s));
    await writeFile(metaData, stringify({ "instance-id": s.hostname, "local-hostname": s.hostname }));
    const attempts: [Program, string[]][] = [
      ["cloud-localds", [iso, userData, metaData]],
      ["genisoimage", ["-quiet", "-output", iso, "-volid", "cidata", "-joliet", "-rock", userData, metaData]],
      ["xorriso", ["-as", "mkisofs", "-quiet", "-output", iso, "-volid", "cidata", "-joliet", "-rock", userData, metaData]],
    ];
    const missing: string[] = [];
    for (const [tool, args] of attempts) {
      const r = await runProgram(tool, args, { timeout: 60_000 }).catch((err: unknown) => {
        if (err instanceof MissingProgramError) return undefined;
        throw err;
      });
      if (r === undefined) {
        missing.push(`${tool} (Debian: ${PROGRAMS[tool].debian})`);
        continue;
      }
      if (r.exitCode === 0) return { dir, iso, bytes: (await stat(iso)).size, tool };
      throw new LibvirtError("other", `${tool} failed: ${String(r.stderr).trim() || r.shortMessage}`);
    }
    throw new LibvirtError("operation-invalid", `building a cloud-init seed needs one of ${missing.join(", ")}; none is installed`);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
