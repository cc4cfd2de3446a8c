// NetflowCollector on a loopback UDP port: recorded softflowd datagrams sent with node:dgram come
// out as flow events in order; stats, reports and abort behave.

import { describe, it, expect } from "vitest";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NetflowCollector } from "../../src/collectors/flows/netflow/collector.js";
import type { HvEvent } from "../../src/events/event.js";
import type { RecordedExport } from "../fixtures/netflow/softflowd-traffic.js";

const rec = JSON.parse(readFileSync(join(import.meta.dirname, "..", "fixtures", "netflow", "softflowd-v9.json"), "utf8")) as RecordedExport;

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("NetflowCollector (loopback UDP)", () => {
  it("decodes datagrams from a real socket, names the sender as exporter, and stops on abort", async () => {
    const reports: string[] = [];
    const events: HvEvent[] = [];
    const collector = new NetflowCollector({ port: 0, onReport: (t) => reports.push(t) });
    expect(collector.live).toBe(true);
    const abort = new AbortController();
    // A slow consumer: events must still come out in arrival order.
    const running = collector.run(async ({ event }) => {
      await new Promise((r) => setTimeout(r, 1));
      events.push(event);
    }, abort.signal);
    const { address, port } = await collector.bound;
    expect(address).toBe("127.0.0.1");
    const sender = createSocket("udp4");
    await new Promise<void>((r) => sender.bind(0, "127.0.0.1", r));
    for (const p of rec.packets) sender.send(Buffer.from(p.hex, "hex"), port, "127.0.0.1");
    sender.send(Buffer.from([0, 9, 0]), port, "127.0.0.1");
    await until(() => collector.stats().packets === rec.packets.length + 1, 5000, "all datagrams");
    await until(() => events.length === collector.stats().flows, 5000, "all events emitted");
    abort.abort();
    await running;
    sender.close();
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(events.every((e) => e.flow?.exporter?.address === "127.0.0.1" && e.flow.exporter.version === 9)).toBe(true);
    expect(events.some((e) => e.source?.port === rec.traffic.tcpClientPort)).toBe(true);
    const s = collector.stats();
    expect(s.malformed).toBe(1);
    expect(reports[0]).toBe(`netflow: listening on udp 127.0.0.1:${port}`);
    expect(reports.some((r) => /packet from 127\.0\.0\.1:\d+: v9 header needs 20 bytes, packet has 3/.test(r))).toBe(true);
    expect(reports.at(-1)).toMatch(new RegExp(`stopped after ${rec.packets.length + 1} packets, ${events.length} flows`));
  });

  it("rejects when the port is taken, without hanging", async () => {
    const holder = createSocket("udp4");
    await new Promise<void>((r) => holder.bind(0, "127.0.0.1", r));
    const collector = new NetflowCollector({ port: holder.address().port });
    await expect(collector.run(() => undefined, new AbortController().signal)).rejects.toThrow(/EADDRINUSE/);
    holder.close();
  });
});
