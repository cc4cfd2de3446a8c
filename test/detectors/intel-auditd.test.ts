// The intel detector on connect events recorded live by a real auditd: socat, inside a network
// namespace this test creates (198.51.100.7 on its loopback, a socat listener on it), connects
// over IPv4 and over an IPv6 socket to the IPv4-mapped address ::ffff:198.51.100.7. hv's audit
// decoder turns the records into events; the detector must name both feeds and the process.

import { execa, type ResultPromise } from "execa";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { decodeAuditLines } from "../../src/collectors/audit/decoder.js";
import { createIntelDetector } from "../../src/detectors/intel/detector.js";
import { buildIntelIndex } from "../../src/detectors/intel/index.js";
import type { HvEvent } from "../../src/events/event.js";
import { auditctl, startAuditdWhenFree, whyNoAuditd } from "../helpers/auditd.js";

const inCI = process.env.CI === "true";
const noSocat = (await execa("socat", ["-V"], { reject: false })).exitCode === 0 ? undefined : "socat is missing (Debian package socat)";
const unavailable = (await whyNoAuditd()) ?? noSocat;
if (unavailable) {
  if (inCI) throw new Error(`auditd and socat are required under CI=true: ${unavailable}`);
  console.warn(`\n*** SKIPPING intel detector test on live audit events: ${unavailable} ***\n`);
}


async function connectEvents(logPath: string, key: string, want: number): Promise<HvEvent[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const text = await readFile(logPath, "utf8");
    const events = decodeAuditLines(text.split("\n")).filter((e) => e.audit?.key?.includes(key) && e.event.action === "connect" && e.destination?.ip);
    if (events.length >= want || Date.now() > deadline) return events;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("intel detector on live auditd connect events", () => {
  it.skipIf(unavailable !== undefined)("names the feeds, the entry and the process for IPv4 and IPv4-mapped IPv6 connects", { timeout: 180_000 }, async () => {
    const tag = randomBytes(3).toString("hex");
    const ns = `hvintel-${tag}`;
    const key = `hvintel${tag}`;
    const auditd = await startAuditdWhenFree();
    let listener: ResultPromise | undefined;
    try {
      await execa("ip", ["netns", "add", ns]);
      await execa("ip", ["-n", ns, "link", "set", "lo", "up"]);
      await execa("ip", ["-n", ns, "addr", "add", "198.51.100.7/32", "dev", "lo"]);
      await auditctl("-A", "always,exit", "-F", "arch=b64", "-S", "connect", "-F", `key=${key}`);
      listener = execa("ip", ["netns", "exec", ns, "socat", "-u", "TCP4-LISTEN:8443,bind=198.51.100.7,reuseaddr,fork", "OPEN:/dev/null"], { reject: false });
      // Until the listener is up a connect is refused; retry so the first recorded one succeeds.
      for (let i = 0; i < 50; i++) {
        const r = await execa("ip", ["netns", "exec", ns, "socat", "-u", "OPEN:/dev/null", "TCP4:198.51.100.7:8443"], { reject: false });
        if (r.exitCode === 0) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      await execa("ip", ["netns", "exec", ns, "socat", "-u", "OPEN:/dev/null", "TCP6:[::ffff:198.51.100.7]:8443"], { reject: false });

      const events = await connectEvents(auditd.logPath, key, 2);
      const v4 = events.filter((e) => e.destination?.ip === "198.51.100.7" && e.event.outcome === "success");
      const v6 = events.filter((e) => e.destination?.ip?.includes(":"));
      expect(v4.length, JSON.stringify(events.map((e) => e.destination))).toBeGreaterThanOrEqual(1);
      expect(v6.length, JSON.stringify(events.map((e) => e.destination))).toBeGreaterThanOrEqual(1);

      const index = buildIntelIndex([
        { feed: "feodo", indicators: [{ kind: "ip", value: "198.51.100.7", meta: { malware: "QakBot" } }] },
        { feed: "drop", severity: "medium", indicators: [{ kind: "cidr", value: "198.51.100.0/24" }] },
      ]);
      const detector = createIntelDetector({ index: () => index });

      const first = v4[0]!;
      const hits = detector.onEvent(first);
      expect(hits.map((h) => h.rule.id).sort()).toEqual(["intel:drop", "intel:feodo"]);
      const feodo = hits.find((h) => h.rule.id === "intel:feodo")!;
      expect(feodo.threat).toMatchObject({ feed: "feodo", indicator: "198.51.100.7", kind: "ip", matched: "198.51.100.7", field: "destination.ip", description: "QakBot" });
      expect(feodo.summary).toMatch(/socat \(pid \d+\) connected to 198\.51\.100\.7:8443 listed by feodo \(QakBot\)$/);
      expect(hits.find((h) => h.rule.id === "intel:drop")!.severity).toBe("medium");

      const mapped = v6[0]!;
      expect(mapped.destination!.ip).toMatch(/^::ffff:/);
      const mappedHits = detector.onEvent(mapped);
      expect(mappedHits.map((h) => h.rule.id).sort()).toEqual(["intel:drop", "intel:feodo"]);
      expect(mappedHits.find((h) => h.rule.id === "intel:feodo")!.threat).toMatchObject({ indicator: "198.51.100.7", matched: mapped.destination!.ip });
    } finally {
      if (listener?.pid !== undefined) process.kill(listener.pid, "SIGTERM");
      await listener;
      await execa("ip", ["netns", "del", ns], { reject: false });
      await auditd.stop();
    }
  });
});
