// RFC 5424 syslog over UDP (RFC 5426), TCP (RFC 6587) or a unix stream socket.
//
// Unix *datagram* sockets (/dev/log, rsyslog's imuxsock, journald's /run/systemd/journal/syslog)
// cannot be reached: Node has no AF_UNIX SOCK_DGRAM (node:dgram is UDP only) and connecting a
// stream socket to them fails with EPROTOTYPE. Use UDP or TCP to a local rsyslog/syslog-ng, or a
// unix *stream* socket (syslog-ng `unix-stream()`, rsyslog imptcp `path=`).
//
// Default facility: local0. hv's alerts are not authentication messages, so auth/authpriv would
// mix them into sshd and PAM logs and into the rules that read those; a local facility lets a
// site route hv's stream as a whole (`local0.* @@siem:6514`). A site that wants alerts in the
// root-only auth log sets `facility: authpriv`.

import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, isIPv6, type Socket } from "node:net";
import { hostname } from "node:os";
import type { Alert } from "../events/alert.js";
import { lstat } from "node:fs/promises";
import { Delivery, describeError, forSink, type DeliveryOptions } from "./delivery.js";
import { DEFAULT_MESSAGE_BYTES, DEFAULT_SD_ID, formatRfc5424, type Facility, type Rfc5424Options } from "./rfc5424.js";
import { SinkStartError, type AlertSink, type SinkStats } from "./sink.js";

export type SyslogTarget =
  | { transport: "udp"; host: string; port: number }
  | { transport: "tcp"; host: string; port: number; framing: Framing }
  | { transport: "unix"; path: string; framing: Framing };

/**
 * How messages are delimited on a stream (RFC 6587): octet counting (`LEN SP MSG`) survives
 * newlines inside a message; "lf" (non-transparent framing) is for receivers that only split lines.
 */
export type Framing = "octet-counting" | "lf";

export interface SyslogSinkOptions {
  name?: string;
  target: SyslogTarget;
  facility?: Facility;
  /** HOSTNAME field; default the machine's hostname. */
  hostname?: string;
  sdId?: string;
  maxMessageBytes?: number;
  /** Give up connecting (TCP, unix) after this long. */
  connectTimeoutMs?: number;
  delivery?: Partial<DeliveryOptions>;
}

/** Sends whole, already formatted messages; one per kind of socket. */
interface Transport {
  send(messages: Buffer[]): Promise<void>;
  close(): Promise<void>;
}

export class SyslogSink implements AlertSink {
  readonly name: string;
  private readonly delivery: Delivery<Alert>;
  private readonly transport: Transport;
  private readonly format: Rfc5424Options;
  private readonly target: SyslogTarget;

  constructor(opts: SyslogSinkOptions) {
    const t = opts.target;
    this.name = opts.name ?? `syslog:${t.transport === "unix" ? `unix:${t.path}` : `${t.transport}://${t.host}:${t.port}`}`;
    this.format = {
      facility: opts.facility ?? "local0",
      hostname: opts.hostname ?? hostname(),
      appName: "hv",
      procId: String(process.pid),
      sdId: opts.sdId ?? DEFAULT_SD_ID,
      maxBytes: opts.maxMessageBytes ?? DEFAULT_MESSAGE_BYTES,
    };
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.transport =
      t.transport === "udp"
        ? new UdpTransport(t.host, t.port)
        : new StreamTransport(t.transport === "tcp" ? { host: t.host, port: t.port } : { path: t.path }, t.framing, connectTimeoutMs);
    this.delivery = new Delivery((batch) => this.transport.send(batch.map((a) => formatRfc5424(a, this.format))), {
      maxBatch: 50,
      ...forSink(opts.delivery, this.name),
    });
    this.target = t;
  }

  /** A unix socket path that does not exist or is not a socket is a start error (a host or port that does not answer is not). */
  async start(): Promise<void> {
    if (this.target.transport !== "unix") return;
    const st = await lstat(this.target.path).catch((err: unknown) => {
      throw new SinkStartError(this.name, describeError(err));
    });
    if (!st.isSocket()) throw new SinkStartError(this.name, `${this.target.path} is not a socket`);
  }

  send(alert: Alert): Promise<void> {
    this.delivery.offer(alert);
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return this.delivery.flush();
  }

  async close(): Promise<void> {
    await this.delivery.close();
    await this.transport.close();
  }

  stats(): SinkStats {
    return this.delivery.stats();
  }
}

/**
 * One datagram per message. UDP has no acknowledgement: "sent" means the kernel took it. The
 * socket is not connected, so a receiver that is down loses messages without any error here.
 */
class UdpTransport implements Transport {
  private readonly socket: UdpSocket;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    this.socket = createSocket(isIPv6(host) ? "udp6" : "udp4");
    // Errors also arrive in send()'s callback; this listener only keeps them from crashing the process.
    this.socket.on("error", () => undefined);
  }

  async send(messages: Buffer[]): Promise<void> {
    for (const message of messages) {
      await new Promise<void>((resolve, reject) => {
        this.socket.send(message, this.port, this.host, (err) => (err ? reject(err) : resolve()));
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/**
 * A TCP or unix stream connection, opened on first use and again after it broke. TCP syslog has
 * no acknowledgement either: messages written just before the peer went away are lost unseen.
 */
class StreamTransport implements Transport {
  private socket: Socket | undefined;

  constructor(
    private readonly address: { host: string; port: number } | { path: string },
    private readonly framing: Framing,
    private readonly connectTimeoutMs: number,
  ) {}

  async send(messages: Buffer[]): Promise<void> {
    const socket = this.socket ?? (await this.connect());
    const frames = messages.map((m) => (this.framing === "lf" ? Buffer.concat([m, Buffer.from("\n")]) : Buffer.concat([Buffer.from(`${m.length} `), m])));
    await new Promise<void>((resolve, reject) => {
      socket.write(Buffer.concat(frames), (err) => {
        if (!err) return resolve();
        this.drop(socket);
        reject(err);
      });
    });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once("close", () => resolve());
      socket.end();
      // A peer that never reads could hold end() forever.
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }

  private connect(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.address);
      const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve(socket);
      });
      // Before connect this rejects the attempt; afterwards it marks the connection broken so the
      // next send reconnects. Either way the error never escapes as an 'error' event.
      socket.on("error", (err) => {
        clearTimeout(timer);
        this.drop(socket);
        reject(err);
      });
      socket.on("close", () => this.drop(socket));
      // Syslog receivers send nothing back; reading keeps the socket from stalling if one does.
      socket.resume();
    });
  }

  private drop(socket: Socket): void {
    if (this.socket === socket) this.socket = undefined;
    socket.destroy();
  }
}
