import { describe, expect, it } from "vitest";
import { communityId, flowEvent, ipBytes } from "../../src/collectors/flows/flow-event.js";

describe("flow events", () => {
  it("Community ID v1 matches the specification's example, whichever side is the source", () => {
    // The example of the Community ID spec (corelight/community-id-spec): TCP 128.232.110.120:34855 → 66.35.250.204:80.
    expect(communityId(6, "128.232.110.120", 34855, "66.35.250.204", 80)).toBe("1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    expect(communityId(6, "66.35.250.204", 80, "128.232.110.120", 34855)).toBe("1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    // A different port is a different flow; mixed families have none.
    expect(communityId(6, "128.232.110.120", 34856, "66.35.250.204", 80)).not.toBe("1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    expect(communityId(6, "192.0.2.1", 1, "2001:db8::1", 2)).toBeUndefined();
  });

  it("reads IPv4, compressed IPv6 and IPv4-mapped IPv6 addresses as bytes, and refuses others", () => {
    expect([...ipBytes("192.0.2.7")!]).toEqual([192, 0, 2, 7]);
    expect(ipBytes("2001:db8::1")!.toString("hex")).toBe("20010db8000000000000000000000001");
    expect(ipBytes("::ffff:198.51.100.7")!.toString("hex")).toBe("00000000000000000000ffffc6336407");
    expect(ipBytes("::")!.toString("hex")).toBe("0".repeat(32));
    expect(ipBytes("256.1.1.1")).toBeUndefined();
    expect(ipBytes("example.org")).toBeUndefined();
  });

  it("sums both directions, names the tap, and gives the same record the same id", () => {
    const record = {
      timestamp: "2026-11-26T10:00:00.000Z",
      transport: "TCP",
      source: { ip: "10.0.0.5", port: 40000, bytes: 1200, packets: 10 },
      destination: { ip: "203.0.113.9", port: 443, bytes: 50_000, packets: 40 },
      flow: { collector: "conntrack" as const, phase: "end" as const, id: "77" },
      ingress: "vnet3",
    };
    const e = flowEvent(record);
    expect(e.event).toMatchObject({ module: "flow", action: "flow_end", type: ["connection", "end"] });
    expect(e.network).toMatchObject({ transport: "tcp", type: "ipv4", iana_number: 6, bytes: 51_200, packets: 50 });
    expect(e.observer?.ingress?.interface?.name).toBe("vnet3");
    expect(flowEvent(record).event.id).toBe(e.event.id);
    expect(flowEvent({ ...record, flow: { ...record.flow, id: "78" } }).event.id).not.toBe(e.event.id);
  });
});
