// Attribution over real audit records of a qemu process (recorded by attribution-auditd.test.ts
// with HV_RECORD_QEMU_AUDIT): its execve, then two opens of the guest's disk image.

import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { createAttribution } from "../../src/agent/attribution.js";
import { AuditDecoder } from "../../src/collectors/audit/decoder.js";
import { InventoryIndex } from "../../src/collectors/libvirt/inventory.js";
import type { HvEvent } from "../../src/events/event.js";

const lines = readFileSync(new URL("../fixtures/libvirt/qemu-audit.log", import.meta.url), "utf8").split("\n");

function decode(): HvEvent[] {
  const decoder = new AuditDecoder();
  const events = lines.flatMap((line, i) => decoder.pushLine(line, i + 1).events);
  return [...events, ...decoder.flush()];
}

describe("attribution of a recorded qemu process", () => {
  it("names the domain from qemu's execve and carries it to the process's later events", () => {
    const events = decode();
    expect(events.map((e) => e.event.action)).toEqual(["execve", "openat", "openat"]);
    const attribute = createAttribution(new InventoryIndex([]));
    for (const e of events) attribute(e);
    const name = /guest=([^,]+),/.exec(events[0]!.process!.args!.join(" "))![1];
    const uuid = events[0]!.process!.args![events[0]!.process!.args!.indexOf("-uuid") + 1];
    for (const e of events) expect(e.vm).toEqual({ name, uuid });
  });

  it("names it from the proctitle alone when the execve was not seen (qemu started before hv)", () => {
    const opens = decode().slice(1);
    const attribute = createAttribution(new InventoryIndex([{ name: "hvattr-b12ac7", uuid: "from-inventory", interfaces: [] }]));
    for (const e of opens) attribute(e);
    for (const e of opens) expect(e.vm).toEqual({ name: "hvattr-b12ac7", uuid: "from-inventory" });
  });
});
