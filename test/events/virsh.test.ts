// The one virsh runner and the domiflist parser every caller shares. Runs against virsh's built-in
// test driver (test:///default: no daemon, a fresh stock state per call). The backend's own
// tests (test/vm/virsh-test-driver.test.ts) cover timeouts and a missing virsh through the same runner.

import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { parseDomIfList, runVirsh } from "../../src/events/virsh.js";
import { interfacesOf } from "../../src/collectors/libvirt/inventory.js";
import { failure } from "../helpers/vm-errors.js";

const hasVirsh = (await execa("virsh", ["--version"], { reject: false }).catch(() => ({ exitCode: 1 }))).exitCode === 0;
if (!hasVirsh) console.warn("\n*** virsh is not installed: skipping runVirsh tests (apt-get install libvirt-clients) ***\n");

describe("parseDomIfList", () => {
  it("keeps rows whose fifth column is a MAC, with or without -q's header and ruler", () => {
    const text = [
      " Interface   Type      Source     Model    MAC",
      "-------------------------------------------------------------",
      " vnet0       network   hvrecnet   virtio   52:54:00:AA:BB:01",
      " -           user      -          virtio   52:54:00:aa:bb:03",
      " vnet9       ethernet  -          virtio",
      "",
    ].join("\n");
    expect(parseDomIfList(text)).toEqual([
      { interface: "vnet0", type: "network", source: "hvrecnet", model: "virtio", mac: "52:54:00:AA:BB:01" },
      { type: "user", source: "-", model: "virtio", mac: "52:54:00:aa:bb:03" },
    ]);
    // The inventory keys the same rows by tap and lower-case MAC.
    expect(interfacesOf(text)).toEqual([{ tap: "vnet0", network: "hvrecnet", mac: "52:54:00:aa:bb:01" }, { mac: "52:54:00:aa:bb:03" }]);
  });
});

describe.skipIf(!hasVirsh)("runVirsh (test driver)", () => {
  it("returns stdout, and parses the test domain's interfaces", async () => {
    const rows = parseDomIfList(await runVirsh(["domiflist", "--domain", "test"], { uri: "test:///default" }));
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i);
  });

  it("turns libvirt's error into a LibvirtError with its code and words", async () => {
    const err = await failure(runVirsh(["dominfo", "--domain", "no-such-domain"], { uri: "test:///default" }));
    expect(err.code).toBe("not-found");
    expect(err.libvirtMessage).toMatch(/no-such-domain|not found/i);
    expect(err.command).toEqual(["dominfo", "--domain", "no-such-domain"]);
  });

  it("refuses output larger than maxBytes", async () => {
    const err = await failure(runVirsh(["dumpxml", "--domain", "test"], { uri: "test:///default", maxBytes: 64 }));
    expect(err.code).toBe("other");
    expect(err.message).toMatch(/larger than 64 bytes/);
  });
});
