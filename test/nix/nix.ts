// nix-instantiate for the Nix tests: Debian's nix-bin parses any .nix file and evaluates
// expressions that use builtins only (there is no nixpkgs offline, so module.nix, package.nix and
// flake.nix can only be parsed; nix/settings.nix and nix/audit-rules.nix are evaluated).

import { execa } from "execa";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";

export const ROOT = new URL("../../", import.meta.url).pathname;

// Run as root, nix defaults to `build-users-group = nixbld` (multi-user builds), and Debian's
// nix-bin creates no such group, so on a fresh machine every call warns about it. Parsing and evaluating
// builtins build nothing: run nix single-user and without a sandbox, as a plain tool, so the
// only thing on stderr is what nix says about the files under test.
const NIX_CONFIG = ["build-users-group =", "sandbox = false"].join("\n");

/** Runs nix-instantiate in the repository root with the single-user configuration above; never rejects. */
export async function nixInstantiate(args: string[]): Promise<{ exitCode: number | undefined; failed: boolean; stdout: string; stderr: string }> {
  const r = await execa("nix-instantiate", args, { cwd: ROOT, reject: false, env: { NIX_CONFIG } });
  return { exitCode: r.exitCode, failed: r.failed, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Why nix-instantiate cannot run here, or undefined. */
export async function whyNoNix(): Promise<string | undefined> {
  const r = await nixInstantiate(["--version"]);
  if (r.failed) return "nix-instantiate is missing (apt-get install nix-bin)";
  return undefined;
}

/**
 * The skip reason for describe.skipIf(), printed loudly; under CI=true a missing nix-instantiate
 * throws instead, because CI installs nix-bin and a silent skip there would hide a broken setup.
 */
export async function nixSkipReason(): Promise<string | undefined> {
  const reason = await whyNoNix();
  if (reason === undefined) return undefined;
  if (process.env.CI === "true") throw new Error(`Nix tests cannot run under CI: ${reason}`);
  console.warn(`\n*** SKIPPING Nix tests: ${reason} ***\n`);
  return reason;
}

/** Evaluates a Nix expression (strictly) in the repository root and returns its JSON value. */
export async function evalNix(expr: string): Promise<unknown> {
  const r = await nixInstantiate(["--eval", "--strict", "--json", "-E", expr]);
  if (r.exitCode !== 0) throw new Error(`nix-instantiate --eval failed for ${expr}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

/** Every .nix file of the repository, relative to the root (node_modules, dist and .git left out). */
export function nixFiles(dir = ROOT): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (["node_modules", "dist", ".git"].includes(entry.name)) continue;
      out.push(...nixFiles(join(dir, entry.name)));
    } else if (entry.isFile() && entry.name.endsWith(".nix")) {
      out.push(relative(ROOT, join(dir, entry.name)));
    }
  }
  return out.sort();
}
