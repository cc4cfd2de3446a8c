// The inventory's parsing of virsh output (as printed by libvirt 9.0 with -q) and the static
// `--inventory VMS.json` form.

import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { interfacesOf, InventoryIndex, loadInventoryFile, parseDomifaddr } from "../../src/collectors/libvirt/inventory.js";
import { keyValues } from "../../src/events/virsh.js";

describe("virsh output", () => {
  it("reads domiflist rows (tap, network or bridge, MAC)", () => {
    const text = [
      " vnet0   network   hvrecnet   virtio   52:54:00:AA:BB:01",
      " vnet7   bridge    br0        e1000    52:54:00:aa:bb:02",
      " -       user      -          virtio   52:54:00:aa:bb:03",
    ].join("\n");
    expect(interfacesOf(text)).toEqual([
      { tap: "vnet0", network: "hvrecnet", mac: "52:54:00:aa:bb:01" },
      { tap: "vnet7", bridge: "br0", mac: "52:54:00:aa:bb:02" },
      { mac: "52:54:00:aa:bb:03" },
    ]);
  });

  it("reads domifaddr rows, including an interface's further addresses", () => {
    const text = [
      " vnet0      52:54:00:aa:bb:01    ipv4         10.213.7.48/24",
      " -          -                    ipv6         fd00::5/64",
      " vnet1      52:54:00:aa:bb:02    ipv4         10.213.8.9/24",
    ].join("\n");
    expect(parseDomifaddr(text)).toEqual([
      { mac: "52:54:00:aa:bb:01", ip: "10.213.7.48" },
      { mac: "52:54:00:aa:bb:01", ip: "fd00::5" },
      { mac: "52:54:00:aa:bb:02", ip: "10.213.8.9" },
    ]);
  });

  it("reads dominfo", () => {
    const info = keyValues("Id:             1\nName:           hvrec1\nUUID:           93ece661-440b-40fc-99e0-9ca75ca98c39\nState:          shut off\n");
    expect(info).toMatchObject({ Id: "1", UUID: "93ece661-440b-40fc-99e0-9ca75ca98c39", State: "shut off" });
  });
});

describe("inventory lookups", () => {
  const inv = new InventoryIndex([
    { name: "web1", uuid: "AAAAAAAA-0000-0000-0000-000000000001", qemuPid: 4242, interfaces: [{ tap: "vnet3", mac: "52:54:00:00:00:01", ips: ["10.0.0.5"], ip: "10.0.0.6" }] },
    { name: "db1", uuid: "aaaaaaaa-0000-0000-0000-000000000002", interfaces: [] },
  ]);

  it("finds a VM by name, uuid (any case), pid, tap, MAC (any case) and either address form", () => {
    expect(inv.byName("web1")?.uuid).toMatch(/^AAAA/);
    expect(inv.byUuid("aaaaaaaa-0000-0000-0000-000000000001")?.name).toBe("web1");
    expect(inv.byPid(4242)?.name).toBe("web1");
    expect(inv.byTap("vnet3")?.name).toBe("web1");
    expect(inv.byMac("52:54:00:00:00:01".toUpperCase())?.name).toBe("web1");
    expect(inv.byIp("10.0.0.5")?.name).toBe("web1");
    expect(inv.byIp("10.0.0.6")?.name).toBe("web1");
    expect(inv.byIp("10.0.0.7")).toBeUndefined();
    inv.set("web1", undefined);
    expect(inv.byPid(4242)).toBeUndefined();
    expect(inv.all().map((r) => r.name)).toEqual(["db1"]);
  });
});

describe("loadInventoryFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "hv-inv-"));

  it("reads the VMS.json form", () => {
    const path = join(dir, "vms.json");
    writeFileSync(path, JSON.stringify([{ name: "web1", uuid: "u-1", interfaces: [{ tap: "vnet0", mac: "52:54:00:00:00:09", ip: "10.9.0.2" }] }]));
    const inv = loadInventoryFile(path);
    expect(inv.byTap("vnet0")?.name).toBe("web1");
    expect(inv.byIp("10.9.0.2")?.uuid).toBe("u-1");
  });

  it("says which file and what is wrong", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify([{ name: "x" }]));
    expect(() => loadInventoryFile(bad)).toThrow(/bad\.json: entry 0 needs "name" and "uuid"/);
    writeFileSync(bad, "{not json");
    expect(() => loadInventoryFile(bad)).toThrow(/bad\.json/);
    writeFileSync(bad, "{}");
    expect(() => loadInventoryFile(bad)).toThrow(/JSON array/);
  });
});
