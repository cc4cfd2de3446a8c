// CI's Nix check: every .nix file of the repository parses with `nix-instantiate --parse`.
// That is all that can be checked of module.nix, package.nix and flake.nix here (no nixpkgs
// offline); docs/nixos.md says what was and was not evaluated.

import { describe, expect, it } from "vitest";
import { nixFiles, nixInstantiate, nixSkipReason } from "./nix.js";

const skip = await nixSkipReason();

describe.skipIf(skip !== undefined)("nix-instantiate --parse", () => {
  const files = nixFiles();

  it("finds the module, the package, the flake and the pure helpers", () => {
    for (const f of ["flake.nix", "nix/module.nix", "nix/package.nix", "nix/settings.nix", "nix/audit-rules.nix"]) {
      expect(files).toContain(f);
    }
    expect(files.some((f) => f.startsWith("node_modules/") || f.startsWith("dist/"))).toBe(false);
  });

  it.each(files)("%s parses", async (file) => {
    const r = await nixInstantiate(["--parse", file]);
    expect(r.stderr, `${file}: ${r.stderr}`).toBe("");
    expect(r.exitCode).toBe(0);
  });

  it("rejects a file with a syntax error (the check can fail)", async () => {
    const r = await nixInstantiate(["--parse", "-E", "{ a = 1; b = ; }"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/syntax error/);
  });
});
