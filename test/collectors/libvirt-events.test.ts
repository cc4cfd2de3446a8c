// The virsh event parser over a real recording (test/fixtures/libvirt/record.sh, libvirt 9.0) and
// over the other formats virsh prints (tools/virsh-domain-event.c), which a TCG guest without an
// OS cannot provoke.

import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { VirshEventParser, toHvEvent, type LibvirtEvent, type VirshEvent } from "../../src/collectors/libvirt/events.js";
import { InventoryIndex } from "../../src/collectors/libvirt/inventory.js";

const fixture = new URL("../fixtures/libvirt/virsh-events.txt", import.meta.url);

function parseAll(text: string): { parser: VirshEventParser; events: VirshEvent[] } {
  const parser = new VirshEventParser();
  const events: VirshEvent[] = [];
  for (const line of text.split("\n")) events.push(...parser.push(line));
  events.push(...parser.flush());
  return { parser, events };
}

const UUID = "6c1b8a36-2f0e-4d7a-9b7e-2b6f1f0c9a11";
const inventory = new InventoryIndex([{ name: "hvfix1", uuid: UUID, interfaces: [] }]);

describe("virsh event output recorded from libvirt 9.0", () => {
  const { parser, events } = parseAll(readFileSync(fixture, "utf8"));
  const hv = events.map((v) => toHvEvent(v, { inventory, uri: "qemu:///system" }));

  it("yields every event once, in order, and nothing unknown (the 'events received' trailer is not an event)", () => {
    expect(parser.stats.unknown).toBe(0);
    expect(events).toHaveLength(24); // virsh itself said "events received: 24"
    const lifecycle = hv.filter((e) => e.libvirt.event === "lifecycle").map((e) => `${e.event.action}/${e.libvirt.lifecycle!.detail}`);
    expect(lifecycle).toEqual([
      "defined/Added", "resumed/Unpaused", "started/Booted", "suspended/Paused", "resumed/Unpaused",
      "suspended/Paused", "stopped/Saved", "started/Restored", "resumed/Snapshot",
      "suspended/Paused", "resumed/Unpaused", // the memory-only dump pauses and resumes the guest
      "shutdown/Finished after host request", "stopped/Destroyed", "undefined/Removed",
    ]);
  });

  it("normalizes the common fields and attaches the uuid from the inventory", () => {
    const started = hv.find((e) => e.event.action === "started")!;
    expect(started["@timestamp"]).toBe("2026-11-26T06:59:59.224Z");
    expect(started.event).toMatchObject({ module: "libvirt", category: ["host"], type: ["start"], outcome: "success" });
    expect(started.vm).toEqual({ name: "hvfix1", uuid: UUID });
    expect(new Set(hv.map((e) => e.event.id)).size).toBe(hv.length);
    // The same text always gives the same id (exactly-once storage).
    expect(toHvEvent(events[0]!, { uri: "qemu:///system" }).event.id).toBe(hv[0]!.event.id);
  });

  it("keeps the lines of multi-line events together", () => {
    const tunable = hv.find((e) => e.event.action === "tunable")!;
    expect(tunable.libvirt.params).toEqual({ "cputune.cpu_shares": "512" });
    const job = hv.find((e) => e.event.action === "job-completed")!;
    expect(job.libvirt.params).toMatchObject({ operation: "2", memory_page_size: "4096", data_remaining: "0" });
    expect(job.libvirt.raw.split("\n")).toHaveLength(19);
  });

  it("reads graphics, device and metadata events", () => {
    const gfx = hv.filter((e) => e.event.action === "graphics");
    expect(gfx.map((e) => e.libvirt.params!.phase)).toEqual(["connect", "initialize", "disconnect"]);
    expect(gfx[0]!.source).toEqual({ ip: "127.0.0.1", port: 35912 });
    expect(gfx[0]!.destination).toEqual({ ip: "127.0.0.1", port: 5977 });
    expect(gfx[0]!.event.type).toEqual(["start", "connection"]);
    expect(hv.find((e) => e.event.action === "device-added")!.libvirt.device).toBe("ua-fixusb");
    expect(hv.find((e) => e.event.action === "device-removed")!.libvirt.device).toBe("ua-fixusb");
    expect(hv.find((e) => e.event.action === "metadata-change")!.libvirt.params).toEqual({ type: "description", uri: "<null>" });
    expect(hv.filter((e) => e.event.action === "migration-iteration").map((e) => e.libvirt.params!.iteration)).toEqual(["1", "2"]);
  });
});

// Formats from virsh's source (the printf strings of tools/virsh-domain-event.c).
const T = "2026-11-26 06:00:00.123+0000: ";
const SYNTHETIC = [
  `${T}event 'reboot' for domain 'web1'`,
  `${T}event 'rtc-change' for domain 'web1': -3600`,
  `${T}event 'watchdog' for domain 'web1': inject-nmi`,
  `${T}event 'io-error' for domain 'web1': /var/lib/libvirt/images/web1.qcow2 (virtio-disk0) pause`,
  `${T}event 'io-error' for domain 'web1': /var/lib/libvirt/images/web1.qcow2 (virtio-disk0) report due to enospc`,
  `${T}event 'control-error' for domain 'web1'`,
  `${T}event 'block-job' for domain 'web1': Block Copy for vda completed`,
  `${T}event 'disk-change' for domain 'web1' disk sata0-0-0: /a.iso -> /b.iso: changed`,
  `${T}event 'tray-change' for domain 'web1' disk sata0-0-0: opened`,
  `${T}event 'pm-wakeup' for domain 'web1'`,
  `${T}event 'balloon-change' for domain 'web1': 524288KiB`,
  `${T}event 'agent-lifecycle' for domain 'web1': state: 'connected' reason: 'channel event'`,
  `${T}event 'device-removal-failed' for domain 'web1': hostdev0`,
  `${T}event 'block-threshold' for domain 'web1': dev: vda[1](/var/lib/x.qcow2) 1048576 4096`,
  `${T}event 'memory-failure' for domain 'web1':`,
  `recipient: guest`,
  `action: inject`,
  `flags:`,
  `\taction required: 1`,
  `\trecursive: 0`,
  `${T}event 'graphics' for domain 'web1': initialize local[IPv4 0.0.0.0 5900] remote[IPv4 10.1.2.3 51000] x509`,
  `\tx509dname=CN=client`,
  `${T}event 'memory-device-size-change' for domain 'web1':`,
  `alias: virtiomem0`,
  `size: 1048576`,
  `${T}event 'some-future-event' for domain 'web1': whatever it says`,
  `this is not virsh output`,
  `events received: 16`,
];

describe("the other formats virsh prints", () => {
  const { parser, events } = parseAll(SYNTHETIC.join("\n"));
  const hv: LibvirtEvent[] = events.map((v) => toHvEvent(v, {}));
  const by = (action: string): LibvirtEvent[] => hv.filter((e) => e.event.action === action);

  it("parses each into action and params", () => {
    expect(hv.map((e) => e.event.action)).toEqual([
      "reboot", "rtc-change", "watchdog", "io-error", "io-error", "control-error", "block-job", "disk-change", "tray-change",
      "pm-wakeup", "balloon-change", "agent-lifecycle", "device-removal-failed", "block-threshold", "memory-failure",
      "graphics", "memory-device-size-change", "some-future-event", "unknown",
    ]);
    expect(by("rtc-change")[0]!.libvirt.params).toEqual({ utcoffset: "-3600" });
    expect(by("watchdog")[0]!.libvirt.params).toEqual({ action: "inject-nmi" });
    expect(by("io-error")[0]!.libvirt).toMatchObject({ device: "virtio-disk0", params: { path: "/var/lib/libvirt/images/web1.qcow2", action: "pause" } });
    expect(by("io-error")[1]!.libvirt.params).toMatchObject({ action: "report", reason: "enospc" });
    expect(by("io-error")[0]!.event.outcome).toBe("failure");
    expect(by("block-job")[0]!.libvirt).toMatchObject({ device: "vda", params: { job: "Block Copy", status: "completed" } });
    expect(by("disk-change")[0]!.libvirt).toMatchObject({ device: "sata0-0-0", params: { change: "/a.iso -> /b.iso: changed" } });
    expect(by("tray-change")[0]!.libvirt).toMatchObject({ device: "sata0-0-0", params: { change: "opened" } });
    expect(by("balloon-change")[0]!.libvirt.params).toEqual({ actual_kib: "524288" });
    expect(by("agent-lifecycle")[0]!.libvirt.params).toEqual({ state: "connected", reason: "channel event" });
    expect(by("block-threshold")[0]!.libvirt).toMatchObject({ device: "vda[1]", params: { path: "/var/lib/x.qcow2", threshold: "1048576", excess: "4096" } });
    expect(by("memory-failure")[0]!.libvirt.params).toEqual({ recipient: "guest", action: "inject", flags: "", "action required": "1", recursive: "0" });
    expect(by("graphics")[0]!.libvirt.params).toMatchObject({ phase: "initialize", auth: "x509", "x509dname": "CN=client" });
    expect(by("graphics")[0]!.source).toEqual({ ip: "10.1.2.3", port: 51000 });
    expect(by("memory-device-size-change")[0]!.libvirt).toMatchObject({ device: "virtiomem0", params: { size: "1048576" } });
    expect(by("some-future-event")[0]!.libvirt.params).toEqual({ detail: "whatever it says" });
    for (const e of hv.slice(0, -1)) expect(e.vm).toEqual({ name: "web1" });
  });

  it("counts and keeps a line that is not an event", () => {
    expect(parser.stats.unknown).toBe(1);
    const unknown = by("unknown")[0]!;
    expect(unknown.libvirt.raw).toBe("this is not virsh output");
    expect(unknown.vm).toBeUndefined();
  });

  it("reads lines without --timestamp and domain names with quotes", () => {
    const { events: [a, b] } = parseAll("event 'lifecycle' for domain 'it's': Stopped Crashed\nevent 'tray-change' for domain 'a b' disk hdc: closed");
    const e = toHvEvent(a!, { now: () => new Date("2026-01-01T00:00:00Z") });
    expect(e["@timestamp"]).toBe("2026-01-01T00:00:00.000Z");
    expect(e.vm).toEqual({ name: "it's" });
    expect(e.event).toMatchObject({ action: "stopped", outcome: "failure", type: ["end"] });
    expect(b!.domain).toBe("a b");
  });
});
