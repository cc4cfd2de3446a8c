// Without a terminal, `hv monitor` prints one line per alert update and nothing else.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Alert } from "../../src/events/alert.js";
import { formatAlertLine } from "../../src/cli/alerts.js";
import { MonitorState } from "../../src/cli/monitor-state.js";
import { startMonitorPlain } from "../../src/cli/monitor-plain.js";
import { LineWriter } from "../../src/cli/output.js";

function alert(id: number, count: number): Alert {
  const t = "2026-01-02T03:04:05.000Z";
  return {
    id, "@timestamp": t, first_seen: t, last_seen: t, count,
    rule: { id: `rule-${id}`, title: `Rule ${id}`, source: "sigma" },
    severity: "high", mitre: { tactics: [], techniques: [] },
    entity: { kind: "vm", id: "web-1" }, vm: { name: "web-1" },
    event_ids: [`audit::1.0:${id}`], status: "open",
  };
}

function capture(): { out: LineWriter; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d: Buffer) => (text += d.toString()));
  return { out: new LineWriter(stream), text: () => text };
}

describe("monitor plain output", () => {
  it("prints each new alert and each count update as it happens, one line each", async () => {
    const state = new MonitorState();
    const { out, text } = capture();
    const plain = startMonitorPlain(state, { out });
    state.addAlert(alert(1, 1), true);
    state.addAlert(alert(2, 1), true);
    state.setSources([{ name: "audit", events: 5, eventsPerSec: 1, drops: 0, malformed: 0, lostSerials: 0 }], 5);
    state.note("not for stdout");
    // Flushed on the next turn of the event loop, without waiting for the buffer to fill.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(text()).toBe(`${formatAlertLine(alert(1, 1))}\n${formatAlertLine(alert(2, 1))}\n`);
    state.addAlert(alert(1, 2), false);
    plain.stop();
    expect(text().trimEnd().split("\n")).toEqual([alert(1, 1), alert(2, 1), alert(1, 2)].map(formatAlertLine));
    expect(text()).toContain("×2 vm=web-1");
    // After stop, nothing more.
    state.addAlert(alert(3, 1), true);
    await new Promise((r) => setImmediate(r));
    expect(text()).not.toContain("Rule 3");
  });

  it("prints JSON alerts with json", async () => {
    const state = new MonitorState();
    const { out, text } = capture();
    const plain = startMonitorPlain(state, { out, json: true });
    state.addAlert(alert(7, 1), true);
    plain.stop();
    await new Promise((r) => setImmediate(r));
    expect(JSON.parse(text())).toMatchObject({ id: 7, rule: { id: "rule-7" }, count: 1 });
  });
});
