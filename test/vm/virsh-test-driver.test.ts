import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure } from "../helpers/vm-errors.js";
import { codeForMessage, LibvirtError, libvirtMessageOf } from "../../src/events/libvirt-error.js";
import { checkName } from "../../src/vm/names.js";
import { parseSize } from "../../src/vm/size.js";
import { parseDomainStats } from "../../src/vm/stats.js";
import { resolveUri, VirshBackend } from "../../src/vm/virsh.js";

// Unit tests against virsh's built-in test driver (test:///default): no daemon, and every virsh
// call is a fresh connection with the stock state (one running domain "test", network "default",
// pool "default-pool"). So each test here is one call, or checks one call's effect on its own;
// anything needing state across calls is in backend.test.ts against the real libvirtd.

const hasVirsh = (await execa("virsh", ["--version"], { reject: false }).catch(() => ({ exitCode: 1 }))).exitCode === 0;
if (!hasVirsh) console.warn("\n*** virsh is not installed: skipping test-driver tests (apt-get install libvirt-clients) ***\n");

describe("names, sizes, messages (no virsh)", () => {
  it("refuses unsafe names before any call", () => {
    for (const bad of ["a;rm -rf /", "$(reboot)", "a b", "-x", "--help", "a/b", "a\nb", "a\u0000", "`id`", "a|b", "", "x".repeat(201)]) {
      expect(() => checkName(bad), JSON.stringify(bad)).toThrow(LibvirtError);
    }
    for (const good of ["web1", "hvtest-a.b_c", "vm:1", "a+b@c"]) expect(checkName(good)).toBe(good);
  });

  it("parses sizes", () => {
    expect(parseSize("512M")).toBe(512 * 1024 ** 2);
    expect(parseSize("2G")).toBe(2 * 1024 ** 3);
    expect(parseSize("1.5GiB")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("128", 1024 ** 2)).toBe(128 * 1024 ** 2);
    expect(parseSize("1GB")).toBe(1e9);
    for (const bad of ["", "x", "-1G", "1Q", "0"]) expect(() => parseSize(bad), bad).toThrow(LibvirtError);
  });

  it("extracts libvirt's message and classifies it", () => {
    const stderr = "error: Failed to define domain from /tmp/x.xml\nerror: XML document failed to validate against schema: Unable to validate doc\nElement domain has extra content: bogus\n\n";
    expect(libvirtMessageOf(stderr)).toBe("Failed to define domain from /tmp/x.xml: XML document failed to validate against schema: Unable to validate doc: Element domain has extra content: bogus");
    expect(codeForMessage("failed to get domain 'nope'")).toBe("not-found");
    expect(codeForMessage("Domain snapshot not found: no domain snapshot with matching name 's9'")).toBe("not-found");
    expect(codeForMessage("operation failed: domain 'x' already exists with uuid 1")).toBe("already-exists");
    expect(codeForMessage("failed to connect to the hypervisor: Failed to connect socket to '/run/libvirt/libvirt-sock': No such file or directory")).toBe("connection-failed");
    expect(codeForMessage("Requested operation is not valid: domain is not running")).toBe("operation-invalid");
    expect(codeForMessage("Domain is already active")).toBe("operation-invalid");
    expect(codeForMessage("No interface with MAC address 52:54:00:00:00:99 was found")).toBe("not-found");
    expect(codeForMessage("something new")).toBe("other");
  });

  it("parses domstats output", () => {
    const s = parseDomainStats("Domain: 'vm1'\n  state.state=3\n  cpu.time=1500\n  balloon.current=131072\n  block.count=1\n  block.0.name=vda\n  block.0.rd.bytes=512\n  net.count=1\n  net.0.name=vnet0\n  net.0.rx.bytes=90\n  net.0.tx.pkts=2\n");
    expect(s).toMatchObject({ name: "vm1", state: "paused", cpu: { timeNs: 1500 }, memory: { currentBytes: 128 * 1024 * 1024 } });
    expect(s.blocks).toEqual([{ name: "vda", readBytes: 512, writeBytes: 0, readRequests: 0, writeRequests: 0 }]);
    expect(s.interfaces[0]).toMatchObject({ name: "vnet0", rxBytes: 90, txPackets: 2 });
  });

  it("takes the URI from the flag, then HV_LIBVIRT_URI, then qemu:///system", () => {
    const saved = process.env.HV_LIBVIRT_URI;
    delete process.env.HV_LIBVIRT_URI;
    expect(resolveUri()).toBe("qemu:///system");
    process.env.HV_LIBVIRT_URI = "test:///default";
    expect(resolveUri()).toBe("test:///default");
    expect(resolveUri("qemu:///session")).toBe("qemu:///session");
    if (saved === undefined) delete process.env.HV_LIBVIRT_URI;
    else process.env.HV_LIBVIRT_URI = saved;
  });
});

describe.skipIf(!hasVirsh)("VirshBackend on test:///default", () => {
  const b = new VirshBackend({ uri: "test:///default" });
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hv-virsh-test-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("lists domains, networks and pools", async () => {
    expect(await b.listDomains({ all: true })).toEqual([{ name: "test", id: 1, state: "running" }]);
    expect(await b.listNetworks()).toEqual([{ name: "default", active: true, autostart: false, persistent: true }]);
    expect((await b.listPools()).map((p) => p.name)).toEqual(["default-pool"]);
  });

  it("reads info, XML and stats of a domain", async () => {
    const info = await b.domainInfo("test");
    expect(info).toMatchObject({ name: "test", state: "running", vcpus: 2, persistent: true, uuid: "6695eb01-f6a4-8304-79aa-97f2502e193f" });
    expect(await b.dumpXml("test")).toContain("<name>test</name>");
    expect((await b.domainStats("test")).state).toBe("running");
    expect(await b.snapshotList("test")).toEqual([]);
  });

  it("defines a domain from valid XML (within this one connection)", async () => {
    const xml = "<domain type='test'><name>hv-ok</name><memory>1048576</memory><os><type>hvm</type></os></domain>";
    expect(await b.define(xml)).toBe("hv-ok");
  });

  it("turns failures into typed errors", async () => {
    expect((await failure(b.domainInfo("nope"))).code).toBe("not-found");
    expect((await failure(b.start("test"))).code).toBe("operation-invalid");
    expect((await failure(b.resume("test"))).code).toBe("operation-invalid");
    expect((await failure(b.snapshotRevert("test", "nosnap"))).code).toBe("not-found");
    expect((await failure(b.define("<domain><name>x</name"))).code).toBe("invalid-xml");
    const schema = await failure(b.define("<domain type='test'><name>x</name><memory>1024</memory><os><type>hvm</type></os><bogus/></domain>"));
    expect(schema.code).toBe("invalid-xml");
    expect(schema.libvirtMessage).toMatch(/bogus/);
    expect((await failure(b.domainInfo("a;reboot"))).code).toBe("invalid-argument");
    expect((await failure(b.save("test", "-rf"))).code).toBe("invalid-argument");
  });

  it("reports connection failures and never calls virsh for a bad name", async () => {
    const down = new VirshBackend({ uri: `test+unix:///default?socket=${dir}/no-such-sock` });
    expect((await failure(down.listDomains())).code).toBe("connection-failed");
    const missing = new VirshBackend({ uri: "test:///default", virsh: join(dir, "no-virsh") });
    expect((await failure(missing.domainInfo("$(id)"))).code).toBe("invalid-argument");
    expect((await failure(missing.listDomains())).code).toMatch(/connection-failed|other/);
  });

  it("times out a stuck call", async () => {
    const slow = join(dir, "slow-virsh");
    await writeFile(slow, "#!/bin/sh\nexec sleep 10\n");
    await chmod(slow, 0o755);
    const err = await failure(new VirshBackend({ uri: "test:///default", virsh: slow, timeoutMs: 300 }).listDomains());
    expect(err.code).toBe("timeout");
  });
});
