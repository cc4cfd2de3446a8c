// The nats sink → HV_FLEET stream → fleet view, against a real nats-server (Debian's nats-server)
// on a free loopback port: two sinks with different host names publish, one watcher sees every
// alert once with the right host; identical content is stored once; bad messages are counted.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFleetView, formatFleetLine } from "../../src/cli/fleet.js";
import { LineWriter } from "../../src/cli/output.js";
import { ensureStream } from "../../src/fleet/connection.js";
import { encode } from "../../src/fleet/messages.js";
import { STREAM } from "../../src/fleet/subjects.js";
import { watchFleet, type FleetItem } from "../../src/fleet/watch.js";
import { createSinks } from "../../src/outputs/config.js";
import { NatsSink } from "../../src/outputs/nats.js";
import { publishActionResult } from "../../src/outputs/sink.js";
import { makeAlert, until } from "../outputs/alerts.js";
import { startNatsServer, whyNoNatsServer, type RunningNats } from "../helpers/nats.js";

const inCI = process.env.CI === "true";
const unavailable = whyNoNatsServer();
if (unavailable) console.warn(`\n*** NATS fleet test ${inCI ? "FAILS (CI=true)" : "SKIPPED"}: ${unavailable} ***\n`);

describe.skipIf(unavailable !== undefined && !inCI)("nats sink and fleet view (real nats-server)", () => {
  let server: RunningNats;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    // The stream an agent creates on its first publish; the watcher needs it to exist.
    await ensureStream(await nc.jetstreamManager());
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  function watch(): { items: FleetItem[]; malformed: string[]; stop: () => Promise<void> } {
    const items: FleetItem[] = [];
    const malformed: string[] = [];
    const abort = new AbortController();
    let failure: unknown;
    const done = watchFleet({ nc, sinceMs: 3_600_000, signal: abort.signal, onItem: (i) => items.push(i), onMalformed: (s, _seq, e) => malformed.push(`${s}: ${e}`) }).catch((err: unknown) => {
      failure = err;
    });
    return {
      items,
      malformed,
      stop: async () => {
        abort.abort();
        await done;
        if (failure) throw failure;
      },
    };
  }

  it("shows alerts of two hosts with the right host, stores identical content once, and reports action results", async () => {
    // One sink built from config, as the agent builds it; a dotted host name must still be one subject token.
    const [a] = createSinks([{ type: "nats", servers: [server.url], host: "host-a" }]) as [NatsSink];
    const b = new NatsSink({ servers: [server.url], host: "web1.example.org" });
    const view = watch();
    try {
      for (let i = 1; i <= 3; i++) await a.send(makeAlert({ id: i, count: i, entity: { kind: "vm", id: `a-vm-${i}` } }));
      await b.send(makeAlert({ id: 1, entity: { kind: "ip", id: "203.0.113.5" }, vm: undefined, host: { name: "web1" } }));
      await b.send(makeAlert({ id: 2, severity: "critical" }));
      // The same alert, same content, twice: one message in the stream.
      await b.send(makeAlert({ id: 2, severity: "critical" }));
      expect(publishActionResult([a, b], { playbook: "block-c2", action: "block_ip", mode: "automatic", status: "done", target: "ip:203.0.113.5", result: "blocked 203.0.113.5", actionId: 7 })).toBe(2);
      await Promise.all([a.flush(), b.flush()]);
      expect(a.stats()).toMatchObject({ sent: 4, failed: 0, dropped: 0 });
      expect(b.stats()).toMatchObject({ sent: 4, failed: 0, dropped: 0, duplicates: 1 });

      await until(() => view.items.length >= 7, 10_000, "7 fleet items");
      // Each host's messages in the order it sent them; the two hosts interleave as they please.
      const byHost = (x: FleetItem, y: FleetItem): number => (x.host < y.host ? -1 : x.host > y.host ? 1 : x.seq - y.seq);
      const alerts = view.items.filter((i) => i.kind === "alert").sort(byHost);
      expect(alerts.map((i) => [i.host, i.subject, i.alert.id, i.alert.entity.id])).toEqual([
        ["host-a", "hv.host-a.alerts", 1, "a-vm-1"],
        ["host-a", "hv.host-a.alerts", 2, "a-vm-2"],
        ["host-a", "hv.host-a.alerts", 3, "a-vm-3"],
        ["web1.example.org", "hv.web1_example_org.alerts", 1, "203.0.113.5"],
        ["web1.example.org", "hv.web1_example_org.alerts", 2, "web-1"],
      ]);
      const actions = view.items.filter((i) => i.kind === "action").sort(byHost);
      expect(actions.map((i) => [i.host, i.action.action, i.action.status, i.action.actionId])).toEqual([
        ["host-a", "block_ip", "done", 7],
        ["web1.example.org", "block_ip", "done", 7],
      ]);
      expect(formatFleetLine(alerts[3]!)).toMatch(/^web1\.example\.org +1 .* HIGH Reverse shell from a guest ×3 ip=203\.0\.113\.5 /);
      // Nothing else arrives: the duplicate was dropped by JetStream, not by the view.
      await new Promise((r) => setTimeout(r, 300));
      expect(view.items).toHaveLength(7);
    } finally {
      await view.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("counts a malformed message and goes on", async () => {
    const view = watch();
    try {
      const js = nc.jetstream();
      await js.publish("hv.evil.alerts", new TextEncoder().encode("{not json"));
      await js.publish("hv.evil.alerts", encode({ rule: { id: "x" }, severity: "apocalyptic" }));
      await js.publish("hv.evil.actions", encode({ v: 2 }));
      const sink = new NatsSink({ servers: [server.url], host: "after-garbage" });
      await sink.send(makeAlert({ id: 99 }));
      await sink.flush();
      await sink.close();
      await until(() => view.items.some((i) => i.host === "after-garbage"), 10_000, "the alert after the garbage");
      expect(view.malformed).toHaveLength(3);
      expect(view.malformed[1]).toMatch(/^hv\.evil\.alerts: .*severity/);
    } finally {
      await view.stop();
    }
  });

  it("runFleetView prints JSON lines with the host and stops on its signal", async () => {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (c: Buffer) => (text += c.toString()));
    const abort = new AbortController();
    const notes: string[] = [];
    const running = runFleetView({ servers: [server.url], json: true, since: "1h", hosts: ["host-a"], signal: abort.signal, out: new LineWriter(stream), log: (t) => notes.push(t) });
    await until(() => text.split("\n").filter(Boolean).length >= 4, 10_000, "host-a's lines");
    abort.abort();
    expect(await running).toBe(0);
    const lines = text.trim().split("\n").map((l) => JSON.parse(l) as { host: string; kind: string; seq: number });
    // Only host-a (three alerts, one action result); blocks would show too, there are none.
    expect(lines.map((l) => [l.host, l.kind])).toEqual([
      ["host-a", "alert"],
      ["host-a", "alert"],
      ["host-a", "alert"],
      ["host-a", "action"],
    ]);
    expect(notes.at(-1)).toMatch(/messages, 3 malformed$/);
  });

  it("never blocks nor throws when no server answers: retries, then counts the alert as failed; a full buffer drops", async () => {
    const sink = new NatsSink({ servers: ["nats://127.0.0.1:1"], host: "lonely", delivery: { retries: 1, backoffMs: 10, capacity: 2, closeTimeoutMs: 3000 } });
    for (let i = 0; i < 5; i++) await sink.send(makeAlert({ id: i }));
    await sink.flush();
    const s = sink.stats();
    expect(s.sent).toBe(0);
    expect(s.failed + s.dropped).toBe(5);
    expect(s.dropped).toBeGreaterThanOrEqual(3);
    expect(s.lastError).toMatch(/CONNECTION_REFUSED|ECONNREFUSED|connect/i);
    await sink.close();
  });

  it("with a spool, alerts JetStream did not acknowledge are never counted sent: they wait on disk and reach the stream after a restart", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hv-nats-spool-"));
    try {
      const delivery = { retries: 1, backoffMs: 10, closeTimeoutMs: 2000, spool: { dir } };
      // The agent's fleet link while no server answers.
      const down = new NatsSink({ name: "fleet", servers: ["nats://127.0.0.1:1"], host: "spooled", delivery });
      for (let i = 1; i <= 5; i++) await down.send(makeAlert({ id: 900 + i, entity: { kind: "vm", id: `spool-${i}` } }));
      await until(() => down.stats().queued === 5, 30_000, "the 5 alerts to wait in the spool");
      expect(down.stats()).toMatchObject({ sent: 0, failed: 0, dropped: 0, queued: 5 });
      await down.close();
      // The next agent, with the server back: what waited goes out first, in order, once.
      const up = new NatsSink({ name: "fleet", servers: [server.url], host: "spooled", delivery });
      await until(() => up.stats().sent === 5 && up.stats().queued === 0, 30_000, "the spooled alerts to be acknowledged");
      await up.close();
      const js = nc.jetstream();
      const c = await js.consumers.get(STREAM, { filterSubjects: "hv.spooled.alerts" });
      const got: number[] = [];
      for await (const m of await c.fetch({ max_messages: 10, expires: 2000 })) got.push((m.json() as { id: number }).id);
      expect(got).toEqual([901, 902, 903, 904, 905]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("the stream was created with hv's subjects and a duplicate window", async () => {
    const info = await (await nc.jetstreamManager()).streams.info(STREAM);
    expect(info.config.subjects).toEqual(["hv.>"]);
    expect(info.config.duplicate_window).toBe(10 * 60 * 1e9);
  });
});
