// `hv vm audit` through commander, as src/cli/vm.ts will mount it: files, --json, --fail-on,
// bad input, and libvirt through a real virsh against the test driver (test:///FILE.xml).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execaSync } from "execa";
import { Command } from "commander";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { formatReport, registerVmAudit } from "../../src/cli/vm-audit.js";

const dir = mkdtempSync(join(tmpdir(), "hv-vm-audit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RISKY = `<domain type='kvm'>
  <name>web-1</name>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='6' slot='0' function='0'/></source></hostdev>
    <graphics type='vnc' port='-1' listen='0.0.0.0'/>
  </devices>
  <seclabel type='dynamic' model='selinux'/>
</domain>`;
const CALM = RISKY.replace("web-1", "calm").replace(/<hostdev[\s\S]*?<\/hostdev>/, "").replace(" listen='0.0.0.0'", "");

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function hv(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  const program = new Command("hv").exitOverride();
  const vm = program.command("vm");
  registerVmAudit(vm);
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
    out += String(chunk);
    const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
    cb?.();
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
  process.exitCode = undefined;
  try {
    await program.parseAsync(["node", "hv", "vm", "audit", ...args]);
  } catch (thrown) {
    err += `hv: ${(thrown as Error).message}\n`;
    process.exitCode = 1;
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { out, err, code };
}

afterEach(() => vi.restoreAllMocks());

describe("hv vm audit --file", () => {
  it("prints findings grouped by domain, most severe first, without colour when not a TTY", async () => {
    const r = await hv("--file", file("web.xml", RISKY), file("calm.xml", CALM));
    expect(r.code).toBe(0);
    expect(r.out).not.toContain("\x1b[");
    const lines = r.out.split("\n");
    expect(lines[0]).toBe(`web-1  (${join(dir, "web.xml")})`);
    expect(lines[1]).toMatch(/^ {2}HIGH +graphics-exposed +\/domain\/devices\/graphics$/);
    expect(r.out).toContain("VNC listens on 0.0.0.0 (all addresses) without a password");
    expect(r.out).toContain("fix: Listen on 127.0.0.1");
    expect(r.out).toMatch(/calm {2}\(.*\)\n {2}no findings/);
    expect(r.out.trimEnd().split("\n").at(-1)).toBe("2 domains, 2 findings: 2 high");
  });

  it("--json gives { domains: [{ name, findings }], summary }", async () => {
    const r = await hv("--file", file("web.xml", RISKY), "--json");
    const report = JSON.parse(r.out);
    expect(report.domains[0].name).toBe("web-1");
    expect(report.domains[0].findings[0]).toEqual({
      check: "graphics-exposed", severity: "high", domain: "web-1", location: "/domain/devices/graphics",
      message: expect.stringContaining("without a password"), fix: expect.any(String),
    });
    expect(report.summary).toMatchObject({ domains: 1, findings: 2, bySeverity: { high: 2 }, byCheck: { "hostdev-pci": 1, "graphics-exposed": 1 } });
    expect(report.errors).toEqual([]);
  });

  it("--fail-on exits 1 only when a finding reaches the level; --min-severity hides the rest", async () => {
    expect((await hv("--file", file("web.xml", RISKY), "--fail-on", "high")).code).toBe(1);
    expect((await hv("--file", file("web.xml", RISKY), "--fail-on", "critical")).code).toBe(0);
    const r = await hv("--file", file("web.xml", RISKY), "--min-severity", "critical", "--json");
    expect(JSON.parse(r.out).summary.findings).toBe(0);
    const bad = await hv("--file", file("web.xml", RISKY), "--fail-on", "severe");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/one of info\|informational, low, med\|medium, high, crit\|critical/);
    // The short names the live view and hv alerts list print are accepted here too.
    expect((await hv("--file", file("web.xml", RISKY), "--fail-on", "HIGH")).code).toBe(1);
    expect((await hv("--file", file("web.xml", RISKY), "--fail-on", "crit")).code).toBe(0);
    expect(JSON.parse((await hv("--file", file("web.xml", RISKY), "--min-severity", "med", "--json")).out).summary.findings).toBe(2);
  });

  it("filters domains by NAME and says when a name is not in the files", async () => {
    const both = file("both.xml", `${RISKY}\n${CALM}\n`);
    const r = await hv("calm", "--file", both, "--json");
    expect(JSON.parse(r.out).domains.map((d: { name: string }) => d.name)).toEqual(["calm"]);
    const missing = await hv("nope", "--file", both);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no domain named "nope"');
  });

  it("bad input: malformed XML, a DOCTYPE, a missing file, a network document — clear messages, exit 1 only for errors", async () => {
    const r = await hv("--file", file("bad.xml", "<domain><name>x</domain>"), file("xxe.xml", `<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain><name>&x;</name></domain>`), join(dir, "absent.xml"), file("web.xml", RISKY));
    expect(r.code).toBe(1);
    expect(r.err).toContain("bad.xml: malformed XML at line 1");
    expect(r.err).toContain("xxe.xml: XML with a DOCTYPE or ENTITY declaration is not accepted");
    expect(r.err).toContain("absent.xml: cannot read");
    expect(r.out).toContain("web-1"); // the good file is still reported
    const net = await hv("--file", file("net.xml", "<network><name>default</name></network>"));
    expect(net.code).toBe(0);
    expect(net.err).toContain("note: " + join(dir, "net.xml") + " skipped: <network> is a libvirt network definition");
  });

  it("refuses a file larger than the limit before reading it", async () => {
    const big = file("big.xml", `<domain><name>x</name><description>${"A".repeat(5 * 1024 * 1024)}</description></domain>`);
    const r = await hv("--file", big);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/too large/);
  });

  it("colours severities for a terminal", () => {
    const lines = formatReport({ domains: [{ name: "a", errors: [], findings: [{ check: "x", severity: "critical", domain: "a", message: "m", location: "/domain", fix: "f" }] }], summary: { domains: 1, findings: 1, bySeverity: { info: 0, low: 0, medium: 0, high: 0, critical: 1 }, byCheck: { x: 1 } }, skipped: [], errors: [] }, true);
    expect(lines[1]).toContain("\x1b[1;97;41mCRITICAL");
  });
});

const hasVirsh = (() => {
  try {
    execaSync("virsh", ["--version"]);
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasVirsh)("hv vm audit against libvirt (virsh, test driver)", () => {
  // The test driver loads a whole fake host from a file: no daemon needed.
  const node = `<node>${RISKY.replace("type='kvm'", "type='test'")}${CALM.replace("type='kvm'", "type='test'")}</node>`;

  it("audits every domain when no NAME is given", async () => {
    const uri = `test://${file("host.xml", node)}`;
    const r = await hv("--uri", uri, "--json");
    expect(r.err).not.toContain("hv:");
    const report = JSON.parse(r.out);
    expect(report.domains.map((d: { name: string; source: string }) => `${d.name} ${d.source}`).sort()).toEqual(["calm libvirt:calm", "web-1 libvirt:web-1"]);
    expect(report.domains.find((d: { name: string }) => d.name === "web-1").findings.map((f: { check: string }) => f.check).sort()).toEqual(["graphics-exposed", "hostdev-pci"]);
  });

  it("audits the named domains, and a missing domain is a clear error", async () => {
    const uri = `test://${file("host.xml", node)}`;
    const r = await hv("web-1", "--uri", uri, "--fail-on", "high");
    expect(r.code).toBe(1);
    expect(r.out).toContain("web-1  (libvirt:web-1)");
    const missing = await hv("no-such-vm", "--uri", uri);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/virsh dumpxml failed: .*no-such-vm/);
    // A name that looks like an option stays a name.
    expect((await hv("--uri", uri, "--", "--help")).err).toMatch(/virsh dumpxml failed/);
  });
});
