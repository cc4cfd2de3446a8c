// The audit rules the NixOS module loads (security.audit.rules) come from rules/audit/hv.rules
// through nix/audit-rules.nix. This evaluates that file with the real nix-instantiate and checks
// the list: the same rules as the file (filtering re-done here), auditctl's rule shapes, nothing
// that cannot load on NixOS, and no key that hv's Sigma rules need lost without a stated reason.
// (Loading them with `auditctl -R` would change this host's audit rules: not done.)

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { evalNix, nixSkipReason, ROOT } from "./nix.js";

const skip = await nixSkipReason();

interface AuditRulesNix {
  fromFile: string[];
  nixos: string[];
  dropped: { rule: string; reason: string }[];
  parentDirs: string[];
}

/** The file's rules as the module reads them: trimmed lines, no comments, no blank lines. */
function rulesOfFile(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

const WATCH = /^-w (\/\S+) -p [rwxa]+ -k (hv_[a-z_]+)$/;
const SYSCALL = /^-a always,exit -F arch=b(?:64|32) -S [a-z0-9_]+(?:,[a-z0-9_]+)*(?: -F [a-z0-9]+=\S+)* -k (hv_[a-z_]+)$/;
const keyOf = (rule: string): string => (WATCH.exec(rule) ?? SYSCALL.exec(rule))?.slice(-1)[0] ?? "";

describe.skipIf(skip !== undefined)("nix/audit-rules.nix", () => {
  let rules: AuditRulesNix;
  const file = readFileSync(join(ROOT, "rules/audit/hv.rules"), "utf8");

  beforeAll(async () => {
    rules = (await evalNix("import ./nix/audit-rules.nix { }")) as AuditRulesNix;
  });

  it("reads exactly the rules of rules/audit/hv.rules, in order", () => {
    const expected = rulesOfFile(file);
    expect(expected.length).toBeGreaterThan(40);
    expect(rules.fromFile).toEqual(expected);
  });

  it("gives a non-empty list where every line has one of auditctl's rule shapes", () => {
    expect(rules.nixos.length).toBeGreaterThan(30);
    const bad = rules.nixos.filter((r) => !WATCH.test(r) && !SYSCALL.test(r));
    expect(bad).toEqual([]);
    // NixOS's audit unit writes each rule as echo '…': a quote would break it.
    expect(rules.nixos.filter((r) => r.includes("'"))).toEqual([]);
    expect(new Set(rules.nixos).size).toBe(rules.nixos.length);
  });

  it("has no path that does not exist on NixOS (/usr, /etc/libvirt)", () => {
    expect(rules.nixos.filter((r) => /[ =]\/usr\//.test(r) || /[ =]\/etc\/libvirt/.test(r))).toEqual([]);
    expect(rules.nixos).toContain("-w /var/lib/libvirt/qemu.conf -p wa -k hv_qemu_conf");
    expect(rules.nixos).toContain("-w /var/lib/libvirt/secrets -p rwa -k hv_libvirt_secret");
  });

  it("accounts for every rule of the file: kept (maybe relocated) or dropped with a reason", () => {
    const relocated = rules.fromFile.map((r) => r.replace(" /etc/libvirt", " /var/lib/libvirt"));
    const dropped = rules.dropped.map((d) => d.rule);
    for (const d of rules.dropped) expect(d.reason.length, d.rule).toBeGreaterThan(10);
    const missing = relocated.filter((r) => !rules.nixos.includes(r) && !dropped.includes(r));
    expect(missing).toEqual([]);
  });

  it("loses no evidence hv's Sigma rules need to a key: the rules match recorded facts, never these keys", () => {
    const sigma = readdirSync(join(ROOT, "rules/hv"))
      .filter((f) => f.endsWith(".yml"))
      .map((f) => readFileSync(join(ROOT, "rules/hv", f), "utf8"))
      .join("\n");
    const fileKeys = new Set(rules.fromFile.map(keyOf));
    expect(fileKeys.size).toBeGreaterThan(8);
    // A key may name what a line records, but no rule may need it: other hosts use other keys.
    expect([...fileKeys].filter((k) => new RegExp(`\\b${k}\\b`).test(sigma))).toEqual([]);
  });

  it("orders rules so each event gets the right key", () => {
    const at = (rule: string): number => rules.nixos.indexOf(rule);
    const domainXml = at("-w /var/lib/libvirt/qemu -p wa -k hv_domain_xml");
    expect(domainXml).toBeGreaterThan(0);
    // VM state inside /var/lib/libvirt/qemu (nvram, saves) must not carry hv_domain_xml.
    expect(at("-w /var/lib/libvirt/qemu/nvram -p rwa -k hv_vm_state")).toBeLessThan(domainXml);
    expect(at("-w /var/lib/libvirt/qemu/save -p rwa -k hv_vm_state")).toBeLessThan(domainXml);
    // No recursive watch of /var/lib/libvirt itself shadows the image watch.
    expect(rules.nixos.some((r) => r.startsWith("-w /var/lib/libvirt -p"))).toBe(false);
    // execve last, as in the file.
    expect(keyOf(rules.nixos.at(-1)!)).toBe("hv_exec");
  });

  it("has every watched path's parent directory created at boot or always present", () => {
    const always = new Set(["/dev", "/dev/net", "/etc", "/var/lib"]);
    const parents = new Set(rules.parentDirs);
    const missing: string[] = [];
    for (const r of rules.nixos) {
      const watch = WATCH.exec(r)?.[1];
      const path = /-F path=(\S+)/.exec(r)?.[1];
      const p = watch ?? path;
      if (p !== undefined && !always.has(dirname(p)) && !parents.has(dirname(p))) missing.push(r);
    }
    expect(missing).toEqual([]);
  });
});
