// A sink whose peer is away keeps its alerts on disk (STATE/outbox), in order, bounded, and
// delivers them once the peer is back — also from a new process after a restart. Real HTTP and
// syslog peers on 127.0.0.1, a real directory; the spool file is checked on disk.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createSinks, startSinks } from "../../src/outputs/config.js";
import { Spool } from "../../src/outputs/spool.js";
import { SinkStartError } from "../../src/outputs/sink.js";
import { SyslogSink } from "../../src/outputs/syslog.js";
import { WebhookSink } from "../../src/outputs/webhook.js";
import { createAgentMetrics } from "../../src/api/metrics.js";
import { makeAlert, until } from "./alerts.js";
import { closedPort, startHttpServer } from "./http-server.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "hv-spool-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const FAST = { retries: 1, backoffMs: 10, maxBackoffMs: 40, closeTimeoutMs: 500 };

function webhook(url: string, dir: string, extra: Record<string, unknown> = {}): WebhookSink {
  const s = new WebhookSink({ url, name: "hook", delivery: { ...FAST, spool: { dir, ...extra } } });
  cleanups.push(() => s.close());
  return s;
}

describe("spooled delivery", () => {
  it("keeps alerts on disk while the peer is down and delivers them, in order, from the next process once it is up", async () => {
    const dir = tempDir();
    const port = await closedPort();
    const first = webhook(`http://127.0.0.1:${port}/hook`, dir);
    for (let i = 1; i <= 5; i++) await first.send(makeAlert({ id: i }));
    await until(() => first.stats().queued === 5, 5000, "five alerts queued on disk");
    expect(first.stats()).toMatchObject({ sent: 0, failed: 0, dropped: 0, queued: 5 });
    expect(first.stats().errors).toBeGreaterThanOrEqual(2);
    expect(first.stats().lastError).toMatch(/ECONNREFUSED/);
    await first.close();
    const files = readdirSync(dir).filter((f) => f.endsWith(".jsonl"));
    expect(files).toHaveLength(1);
    expect(readFileSync(join(dir, files[0]!), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { id: number }).id)).toEqual([1, 2, 3, 4, 5]);

    // A new process: the same sink name and directory, the peer now listening on that port.
    const rx = await startHttpServer();
    cleanups.push(() => rx.close());
    const second = webhook(`${rx.url}/hook`, dir);
    expect(second.stats().queued).toBe(5);
    await second.send(makeAlert({ id: 6 }));
    await until(() => second.stats().sent === 6, 5000, "all six delivered");
    expect(rx.received.map((r) => (r.body as { id: number }).id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(second.stats()).toMatchObject({ queued: 0, failed: 0, dropped: 0 });
    expect(readdirSync(dir).filter((f) => f.endsWith(".jsonl"))).toEqual([]);
  });

  it("is bounded in alerts and in bytes: the rest is dropped, counted and said", async () => {
    const port = await closedPort();
    const byCount = webhook(`http://127.0.0.1:${port}/`, tempDir(), { maxItems: 3 });
    for (let i = 0; i < 8; i++) await byCount.send(makeAlert({ id: i + 1 }));
    await until(() => byCount.stats().queued + byCount.stats().dropped === 8, 5000, "all eight accounted for");
    expect(byCount.stats()).toMatchObject({ queued: 3, dropped: 5, sent: 0 });
    expect(byCount.stats().dropReason).toMatch(/spool full \(3 alerts, \d+ bytes in .*\): \d dropped/);

    const oneAlert = Buffer.byteLength(JSON.stringify(makeAlert({ id: 1 }))) + 1;
    const byBytes = webhook(`http://127.0.0.1:${port}/`, tempDir(), { maxBytes: oneAlert * 2 + 10 });
    for (let i = 0; i < 6; i++) await byBytes.send(makeAlert({ id: i + 1 }));
    await until(() => byBytes.stats().queued + byBytes.stats().dropped === 6, 5000, "all six accounted for");
    expect(byBytes.stats()).toMatchObject({ queued: 2, dropped: 4 });
  });

  it("a refusal of the content (HTTP 400) fails the alert for good instead of queueing it", async () => {
    const rx = await startHttpServer((_n, _r, res) => {
      res.statusCode = 400;
      res.end("bad alert");
    });
    cleanups.push(() => rx.close());
    const s = webhook(rx.url, tempDir());
    await s.send(makeAlert());
    await s.flush();
    expect(s.stats()).toMatchObject({ sent: 0, failed: 1, queued: 0 });
  });

  it("retries the spool on its own once the peer comes back, without new alerts", async () => {
    let up = false;
    const rx = await startHttpServer((_n, _r, res) => {
      res.statusCode = up ? 200 : 503;
      res.end();
    });
    cleanups.push(() => rx.close());
    const s = webhook(rx.url, tempDir());
    for (let i = 1; i <= 3; i++) await s.send(makeAlert({ id: i }));
    await until(() => s.stats().queued === 3, 5000, "three queued");
    up = true;
    await until(() => s.stats().sent === 3, 10_000, "the spool delivered by its retry timer");
    expect(rx.received.filter((r) => r.body !== undefined).slice(-3).map((r) => (r.body as { id: number }).id)).toEqual([1, 2, 3]);
  });

  it("close() puts what is still buffered into the spool instead of dropping it", async () => {
    const port = await closedPort();
    const dir = tempDir();
    const s = new WebhookSink({ url: `http://127.0.0.1:${port}/`, name: "hook", delivery: { retries: 100, backoffMs: 5000, closeTimeoutMs: 200, spool: { dir } } });
    for (let i = 0; i < 3; i++) await s.send(makeAlert({ id: i + 1 }));
    await until(() => s.stats().errors > 0, 2000, "the first attempt");
    await s.close();
    expect(s.stats()).toMatchObject({ queued: 3, dropped: 0, failed: 0 });
  });
});

describe("the spool file", () => {
  it("skips (and counts) a torn last line, and starts over when its head does not match the file", () => {
    const dir = tempDir();
    const a = new Spool<{ n: number }>({ dir, name: "x", maxItems: 100, maxBytes: 1 << 20 });
    a.load();
    a.push([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    a.shift(1);
    const file = a.path;
    // The head points past the first item: the next process starts at n=2.
    const b = new Spool<{ n: number }>({ dir, name: "x", maxItems: 100, maxBytes: 1 << 20 });
    expect(b.load()).toEqual({ items: 3, unreadable: 0 });
    expect(b.peek(10)).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }]);
    // A crash mid-write leaves half a line; the file is rewritten (compaction) under a stale head.
    writeFileSync(file, '{"n":2}\n{"n":3}\n{"n":4}\n{"n":');
    const c = new Spool<{ n: number }>({ dir, name: "x", maxItems: 100, maxBytes: 1 << 20 });
    expect(c.load()).toEqual({ items: 3, unreadable: 1 });
    expect(c.peek(10)).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }]);
  });

  it("compacts once most of it is delivered, and removes itself when empty", () => {
    const dir = tempDir();
    const s = new Spool<{ n: number }>({ dir, name: "y", maxItems: 100, maxBytes: 1 << 20 });
    s.load();
    s.push(Array.from({ length: 10 }, (_, i) => ({ n: i })));
    s.shift(6);
    expect(readFileSync(s.path, "utf8").trim().split("\n")).toHaveLength(4);
    s.shift(4);
    expect(existsSync(s.path)).toBe(false);
  });
});

describe("sinks that cannot start", () => {
  it("a jsonl file in a directory that does not exist, a unix socket that is not there: SinkStartError naming the sink", async () => {
    const dir = tempDir();
    const [jsonl] = createSinks([{ type: "jsonl", path: join(dir, "missing", "alerts.jsonl") }]);
    cleanups.push(() => jsonl!.close());
    await expect(startSinks([jsonl!])).rejects.toThrow(SinkStartError);
    await expect(startSinks([jsonl!])).rejects.toThrow(/sink jsonl:.*missing\/alerts\.jsonl cannot start: .*ENOENT/);
    const unix = new SyslogSink({ target: { transport: "unix", path: join(dir, "nope.sock"), framing: "lf" } });
    cleanups.push(() => unix.close());
    await expect(unix.start()).rejects.toThrow(/cannot start: .*ENOENT/);
    writeFileSync(join(dir, "file.sock"), "");
    const notSocket = new SyslogSink({ target: { transport: "unix", path: join(dir, "file.sock"), framing: "lf" } });
    cleanups.push(() => notSocket.close());
    await expect(notSocket.start()).rejects.toThrow(/is not a socket/);
    // A listening socket starts.
    const server: Server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(join(dir, "ok.sock"), r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const ok = new SyslogSink({ target: { transport: "unix", path: join(dir, "ok.sock"), framing: "lf" } });
    cleanups.push(() => ok.close());
    await expect(ok.start()).resolves.toBeUndefined();
  });
});

describe("sink metrics", () => {
  it("exports sent, failed, dropped, queued and failed attempts per sink", async () => {
    const m = createAgentMetrics({ processMetrics: false });
    let rows = [{ name: "hook", sent: 3, failed: 1, dropped: 2, queued: 4, errors: 7 }];
    m.watchSinks(() => rows);
    let text = await m.registry.metrics();
    expect(text).toContain('hv_sink_alerts_total{sink="hook",outcome="sent"} 3');
    expect(text).toContain('hv_sink_alerts_total{sink="hook",outcome="failed"} 1');
    expect(text).toContain('hv_sink_alerts_total{sink="hook",outcome="dropped"} 2');
    expect(text).toContain('hv_sink_queued{sink="hook"} 4');
    expect(text).toContain('hv_sink_errors_total{sink="hook"} 7');
    rows = [{ name: "hook", sent: 5, failed: 1, dropped: 2, queued: 0, errors: 7 }];
    text = await m.registry.metrics();
    expect(text).toContain('hv_sink_alerts_total{sink="hook",outcome="sent"} 5');
    expect(text).toContain('hv_sink_queued{sink="hook"} 0');
  });
});
