// The NetFlow/IPFIX collector: a UDP socket whose datagrams go through one decoder (templates are
// learned per sending address and port), emitting flow events. UDP cannot be paused, so it is a
// live source: the queue drops and counts when full.

import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { Collector, Envelope } from "../../../events/collector.js";
import type { HvEvent } from "../../../events/event.js";
import { createNetflowDecoder, type NetflowDecoder, type NetflowStats } from "./decoder.js";

export interface NetflowCollectorOptions {
  /** UDP port (default 2055; 0 picks a free one, see `bound`). */
  port?: number;
  /** Address to listen on (default 127.0.0.1; exporters on other hosts need an explicit address). */
  address?: string;
  /** Human-readable notes: where it listens, problems with packets, the final counts. */
  onReport?: (text: string) => void;
  templateTtlMs?: number;
  maxTemplates?: number;
  host?: string;
  /** Kernel receive buffer (default 4 MiB) so export bursts are not dropped before hv reads them. */
  receiveBufferBytes?: number;
  /** Every datagram as received, before decoding (recording fixtures, debugging an exporter). */
  onPacket?: (packet: Buffer, from: { address: string; port: number }) => void;
}

export class NetflowCollector implements Collector {
  readonly name: string;
  readonly live = true;
  private readonly decoder: NetflowDecoder;
  private resolveBound!: (addr: { address: string; port: number }) => void;
  /** Resolves with the address and port once the socket listens. */
  readonly bound: Promise<{ address: string; port: number }> = new Promise((resolve) => (this.resolveBound = resolve));

  constructor(private readonly opts: NetflowCollectorOptions) {
    const address = opts.address ?? "127.0.0.1";
    this.name = `netflow:${address}:${opts.port ?? 2055}`;
    this.decoder = createNetflowDecoder({
      ...(opts.templateTtlMs !== undefined ? { templateTtlMs: opts.templateTtlMs } : {}),
      ...(opts.maxTemplates !== undefined ? { maxTemplates: opts.maxTemplates } : {}),
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      onProblem: (p) => this.report(`netflow: packet from ${p.exporter}: ${p.reason}`),
    });
  }

  stats(): NetflowStats {
    return this.decoder.stats();
  }

  async run(emit: (item: Envelope) => Promise<void> | void, signal: AbortSignal): Promise<void> {
    const address = this.opts.address ?? "127.0.0.1";
    const socket: Socket = createSocket({ type: isIPv6(address) ? "udp6" : "udp4", recvBufferSize: this.opts.receiveBufferBytes ?? 4 << 20 });
    // Events leave in arrival order even when emit is slow (backpressure from the queue).
    let chain: Promise<void> = Promise.resolve();
    let failure: Error | undefined;
    socket.on("message", (msg, rinfo) => {
      this.opts.onPacket?.(msg, { address: rinfo.address, port: rinfo.port });
      const events: HvEvent[] = this.decoder.packet(msg, { address: rinfo.address, port: rinfo.port });
      if (events.length === 0) return;
      chain = chain.then(async () => {
        for (const event of events) await emit({ event });
      });
      chain.catch((err: Error) => (failure ??= err));
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(this.opts.port ?? 2055, address, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    const where = socket.address();
    this.resolveBound({ address: where.address, port: where.port });
    this.report(`netflow: listening on udp ${where.address}:${where.port}`);
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
      socket.on("error", (err) => {
        failure ??= err;
        resolve();
      });
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    await chain.catch(() => undefined);
    const s = this.decoder.stats();
    this.report(`netflow: stopped after ${s.packets} packets, ${s.flows} flows, ${s.templates} templates, ${s.noTemplate} data sets without template, ${s.malformed} malformed, ${s.sequenceLost} lost by the exporters' sequence numbers`);
    if (failure) throw failure;
  }

  private report(text: string): void {
    this.opts.onReport?.(text);
  }
}
