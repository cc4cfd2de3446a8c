// `hv service install|uninstall` into a scratch root: the units of packaging/debian with hv's real
// path, checked by systemd's own `systemd-analyze verify` (it runs without systemd as PID 1), the
// hv user created by the real systemd-sysusers, hv's audit rules next to the host's own, and an
// uninstall that removes only hv's files.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shippedAuditRulesFile } from "../../src/agent/config.js";
import { packagingDir } from "../../src/agent/install.js";
import { mustSucceed, runHv } from "../helpers/hv-cli.js";

/** The rules of an audit rules file (comments and blank lines left out) and the keys they set. */
function auditRuleKeys(text: string): { count: number; keys: string[] } {
  const rules = text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  return { count: rules.length, keys: rules.flatMap((r) => /(?:-k |key=)(\S+)/.exec(r)?.[1] ?? []) };
}

const HAVE = spawnSync("systemd-analyze", ["--version"]).status === 0 && spawnSync("systemd-sysusers", ["--version"]).status === 0;
if (!HAVE) {
  const why = "systemd-analyze/systemd-sysusers are missing (apt-get install systemd; .ci/run does)";
  if (process.env.CI === "true") throw new Error(why);
  console.warn(`SKIPPED test/cli/service.test.ts: ${why}`);
}

let root = "";
let stateDir = "";
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hv-service-root-"));
  stateDir = await mkdtemp(join(tmpdir(), "hv-service-state-"));
  // systemd-sysusers needs an etc/ to lock; the host's own audit rules are there already.
  await mkdir(join(root, "etc/audit/rules.d"), { recursive: true });
  await writeFile(join(root, "etc/audit/rules.d/10-base-config.rules"), "-D\n-b 8192\n");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(stateDir, { recursive: true, force: true });
});

const hv = (...args: string[]) => runHv(args, { stateDir, timeoutMs: 120_000 });

describe.skipIf(!HAVE)("hv service install", () => {
  it("writes every shipped unit with this hv's path, and systemd-analyze verify accepts them", async () => {
    const r = mustSucceed(["service", "install"], await hv("service", "install", "--root", root, "--json"));
    const result = r.json as { files: Array<{ path: string; action: string }>; steps: Array<{ step: string; ok: boolean }> };
    const shipped = readdirSync(packagingDir()).filter((f) => /\.(service|socket|timer)$/.test(f));
    expect(shipped).toEqual(expect.arrayContaining(["hv-monitor.service", "hv-privileged.socket", "hv-privileged.service"]));
    for (const unit of shipped) expect(result.files).toContainEqual({ path: join(root, "etc/systemd/system", unit), action: "created" });
    expect(result.steps).toEqual([expect.objectContaining({ step: "system user", ok: true })]);

    const units = shipped.map((u) => join(root, "etc/systemd/system", u));
    const monitor = await readFile(join(root, "etc/systemd/system/hv-monitor.service"), "utf8");
    // ExecStart runs this hv (node and its bin/hv.js), not a /usr/bin/hv this machine lacks.
    expect(monitor).toMatch(new RegExp(`^ExecStart=${process.execPath.replace(/[/.]/g, "\\$&")} \\S+/bin/hv\\.js monitor --config /etc/hv/hv\\.yaml`, "m"));
    expect(monitor).toMatch(/^CapabilityBoundingSet=CAP_NET_ADMIN$/m);
    expect(monitor).toMatch(/^User=hv$/m);
    // --man=no: Documentation= names hv(1) and hv-monitor(1), which `hv man` writes (test/cli/reference.test.ts)
    // but this machine has not installed; everything else about the units is checked.
    const v = spawnSync("systemd-analyze", ["verify", "--man=no", ...units], { encoding: "utf8" });
    expect(v.stderr).toBe("");
    expect(v.status).toBe(0);
    // The hardened agent: systemd's own exposure score stays in its "OK" band.
    const sec = spawnSync("systemd-analyze", ["security", "--offline=true", join(root, "etc/systemd/system/hv-monitor.service")], { encoding: "utf8" });
    const score = Number(/Overall exposure level for hv-monitor\.service: ([\d.]+)/.exec(sec.stdout)?.[1]);
    expect(score, sec.stdout.slice(-500)).toBeLessThan(4);
  });

  it("systemd-analyze verify does fail on a broken unit (the check can fail)", async () => {
    const broken = join(root, "broken.service");
    await writeFile(broken, "[Service]\nExecStart=/nonexistent/hv monitor\n");
    const v = spawnSync("systemd-analyze", ["verify", "--man=no", broken], { encoding: "utf8" });
    expect(v.status).not.toBe(0);
    expect(v.stderr).toMatch(/not executable/);
    await rm(broken);
  });

  it("creates user and group hv (in libvirt) with the real systemd-sysusers", async () => {
    const passwd = await readFile(join(root, "etc/passwd"), "utf8");
    expect(passwd).toMatch(/^hv:x:\d+:\d+:hv security monitoring:\/var\/lib\/hv:/m);
    expect(await readFile(join(root, "etc/group"), "utf8")).toMatch(/^libvirt:x:\d+:hv$/m);
  });

  it("puts hv's audit rules next to the host's own, every rule of rules/audit/hv.rules", async () => {
    const installed = await readFile(join(root, "etc/audit/rules.d/60-hv.rules"), "utf8");
    expect(installed.startsWith("# hv:")).toBe(true);
    expect(auditRuleKeys(installed)).toEqual(auditRuleKeys(await readFile(shippedAuditRulesFile(), "utf8")));
    expect(await readFile(join(root, "etc/audit/rules.d/10-base-config.rules"), "utf8")).toBe("-D\n-b 8192\n");
  });

  it("is idempotent, and --dry-run writes nothing", async () => {
    const again = (await hv("service", "install", "--root", root, "--json")).json as { files: Array<{ action: string }> };
    expect(new Set(again.files.map((f) => f.action))).toEqual(new Set(["unchanged"]));
    const other = await mkdtemp(join(tmpdir(), "hv-service-dry-"));
    try {
      const dry = (await hv("service", "install", "--root", other, "--dry-run", "--json")).json as { files: Array<{ action: string }>; dryRun: boolean };
      expect(dry.dryRun).toBe(true);
      expect(new Set(dry.files.map((f) => f.action))).toEqual(new Set(["created"]));
      expect(readdirSync(other)).toEqual([]);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("refuses on NixOS, where the module installs hv", async () => {
    const nixos = await mkdtemp(join(tmpdir(), "hv-service-nixos-"));
    try {
      await mkdir(join(nixos, "etc"));
      await writeFile(join(nixos, "etc/NIXOS"), "");
      const r = await hv("service", "install", "--root", nixos);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/this is NixOS: enable hypervisor\.monitor/);
      expect(existsSync(join(nixos, "etc/systemd"))).toBe(false);
    } finally {
      await rm(nixos, { recursive: true, force: true });
    }
  });

  it("uninstall removes hv's files only: a file of that name hv did not write stays", async () => {
    await writeFile(join(root, "etc/systemd/system/hv-privileged.socket"), "[Socket]\nListenStream=/run/other.sock\n");
    const r = mustSucceed(["service", "uninstall"], await hv("service", "uninstall", "--root", root, "--json"));
    const files = (r.json as { files: Array<{ path: string; action: string }> }).files;
    expect(files.find((f) => f.path.endsWith("hv-monitor.service"))?.action).toBe("removed");
    expect(files.find((f) => f.path.endsWith("hv-privileged.socket"))?.action).toBe("kept");
    expect(files.find((f) => f.path.endsWith("60-hv.rules"))?.action).toBe("removed");
    expect(existsSync(join(root, "etc/systemd/system/hv-monitor.service"))).toBe(false);
    expect(existsSync(join(root, "etc/systemd/system/hv-privileged.socket"))).toBe(true);
    expect(existsSync(join(root, "etc/audit/rules.d/10-base-config.rules"))).toBe(true);
  });
});
