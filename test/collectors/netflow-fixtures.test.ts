// softflowd's real NetFlow v5, v9, IPFIX and IPFIX-biflow export of known traffic, recorded by
// netflow-softflowd.test.ts (HV_RECORD_NETFLOW_FIXTURES=1), decoded without root or softflowd.

import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createNetflowDecoder } from "../../src/collectors/flows/netflow/decoder.js";
import type { HvEvent } from "../../src/events/event.js";
import { expectKnownTraffic, type Mode, type RecordedExport } from "../fixtures/netflow/softflowd-traffic.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "netflow");

function load(mode: Mode): RecordedExport {
  return JSON.parse(readFileSync(join(FIXTURES, `softflowd-${mode}.json`), "utf8")) as RecordedExport;
}

function decode(rec: RecordedExport, decoder = createNetflowDecoder()): HvEvent[] {
  return rec.packets.flatMap((p) => decoder.packet(Buffer.from(p.hex, "hex"), { address: rec.traffic.server, port: p.port }, new Date(rec.traffic.endedMs)));
}

describe("recorded softflowd exports", () => {
  for (const mode of ["v5", "v9", "ipfix", "ipfix-biflow"] as const) {
    it(`${mode}: the known TCP and UDP traffic, with sane counters and times`, () => {
      const rec = load(mode);
      const decoder = createNetflowDecoder();
      const events = decode(rec, decoder);
      expectKnownTraffic(events, mode, rec.traffic, rec.traffic.server);
      expect(decoder.stats()).toMatchObject({ malformed: 0, noTemplate: 0 });
    });
  }

  it("gives the same event ids when the same packets are decoded again (replay, restart)", () => {
    const rec = load("v9");
    const a = decode(rec).map((e) => e.event.id);
    const b = decode(rec).map((e) => e.event.id);
    expect(a.length).toBeGreaterThan(2);
    expect(b).toEqual(a);
    expect(new Set(a).size).toBe(a.length);
  });
});
