// The live conntrack collector against real conntrack, in network namespaces this test creates
// (prefix hvct): a client and a server joined by a veth pair; the server has an nftables rule
// using ct (without one, conntrack reports nothing in a namespace) and the collector runs there.

import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConntrackCollector } from "../../src/collectors/flows/conntrack.js";
import type { HvEvent } from "../../src/events/event.js";
import { NetnsLab, netnsSkipReason } from "../helpers/netns.js";

const skip = netnsSkipReason(["conntrack", "nft", "socat", "nmap"]);
const lab = new NetnsLab("hvct");
const V4 = { client: "10.232.0.1", server: "10.232.0.2" };
const V6 = { client: "2001:db8:232::1", server: "2001:db8:232::2" };
let client = "";
let server = "";

/** A collector running in the server namespace, with what it emitted and reported. */
function startCollector(opts: ConstructorParameters<typeof ConntrackCollector>[0] = {}) {
  const events: HvEvent[] = [];
  const reports: string[] = [];
  const collector = new ConntrackCollector({ netns: server, hostName: "hvct-server", backoffMs: 100, onReport: (t) => reports.push(t), ...opts });
  const abort = new AbortController();
  const done = collector.run(({ event }) => void events.push(event), abort.signal);
  return {
    collector, events, reports, done,
    async stop() {
      abort.abort();
      await done;
    },
  };
}

/** Waits until a server in `ns` listens on the port (a fixed sleep loses the race on a loaded machine). */
async function listening(ns: string, proto: "t" | "u", port: number): Promise<void> {
  await until(`${proto === "t" ? "tcp" : "udp"} port ${port} listening`, async () => {
    const r = await lab.exec(ns, "ss", ["-H", `-ln${proto}`, `sport = :${port}`], { reject: false });
    return String(r.stdout).trim() !== "";
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** conntrack has its event socket open in the server namespace (events before that are not seen). */
async function conntrackListening(c: ConntrackCollector): Promise<void> {
  await until("conntrack to start", () => c.stats.running && c.stats.pid !== undefined);
  await until("conntrack's sockets", async () => (await readFile(`/proc/${c.stats.pid}/comm`, "utf8").catch(() => "")).trim() === "conntrack");
  await new Promise((r) => setTimeout(r, 200));
}

/** Deletes the server's conntrack entries for a port now (DESTROY), instead of waiting out TIME_WAIT. */
async function destroyEntries(proto: string, port: number, family: "ipv4" | "ipv6" = "ipv4"): Promise<void> {
  await lab.exec(server, "conntrack", ["-D", "-f", family, "-p", proto, "--orig-port-dst", String(port)], { reject: false });
}

function flowTo(events: HvEvent[], phase: string, ip: string, port: number): HvEvent[] {
  return events.filter((e) => e.flow?.phase === phase && e.destination?.ip === ip && e.destination?.port === port);
}

describe.skipIf(skip)("conntrack collector (real conntrack in network namespaces)", () => {
  beforeAll(async () => {
    await lab.cleanup();
    client = await lab.namespace("c");
    server = await lab.namespace("s");
    await lab.link({ ns: client, ip: [`${V4.client}/24`, `${V6.client}/64`] }, { ns: server, ip: [`${V4.server}/24`, `${V6.server}/64`] });
    await lab.exec(server, "nft", ["-f", "-"], {
      input: "table inet hvct {\n  chain hv_input {\n    type filter hook input priority filter;\n    ct state new counter\n  }\n}\n",
    });
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it("TCP and UDP flows with the right 5-tuple, bytes each way, packets, duration", async () => {
    const run = startCollector();
    try {
      await conntrackListening(run.collector);
      expect(run.collector.stats.accounting).toBe(true);
      const acct = await lab.exec(server, "cat", ["/proc/sys/net/netfilter/nf_conntrack_acct"]);
      expect(String(acct.stdout).trim()).toBe("1");

      // TCP: the client sends 50 000 bytes, the server answers 20 000.
      const listener = lab.exec(server, "socat", ["TCP-LISTEN:5001,reuseaddr", "SYSTEM:head -c 20000 /dev/zero"], { reject: false });
      const tcpSink = lab.exec(server, "socat", ["-u", "TCP-LISTEN:5002,reuseaddr", "OPEN:/dev/null"], { reject: false });
      await listening(server, "t", 5001);
      await listening(server, "t", 5002);
      const got = await lab.exec(client, "socat", ["-u", `TCP:${V4.server}:5001`, "STDOUT"], { encoding: "buffer" });
      expect((got.stdout as Uint8Array).length).toBe(20000);
      await lab.exec(client, "socat", ["-u", "STDIN", `TCP:${V4.server}:5002`], { input: Buffer.alloc(50000) });
      await Promise.all([listener, tcpSink]);
      // UDP over IPv6: one 1000-byte datagram, one 700-byte answer.
      const udp = lab.exec(server, "socat", ["UDP6-RECVFROM:7002", "SYSTEM:head -c 700 /dev/zero"], { reject: false });
      await listening(server, "u", 7002);
      const answer = await lab.exec(client, "socat", ["-t", "3", "STDIO", `UDP6:[${V6.server}]:7002`], { input: Buffer.alloc(1000), encoding: "buffer" });
      expect((answer.stdout as Uint8Array).length).toBe(700);
      await udp;

      await destroyEntries("tcp", 5001);
      await destroyEntries("tcp", 5002);
      await destroyEntries("udp", 7002, "ipv6");
      await until("three flow ends", () => run.events.filter((e) => e.flow?.phase === "end").length >= 3);

      // Server → client 20 000 bytes on 5001.
      const [down] = flowTo(run.events, "end", V4.server, 5001);
      const [downNew] = flowTo(run.events, "new", V4.server, 5001);
      expect(down && downNew).toBeTruthy();
      expect(down!.source?.ip).toBe(V4.client);
      expect(down!.network?.transport).toBe("tcp");
      expect(down!.source?.port).toBe(downNew!.source?.port);
      expect(down!.flow?.id).toBe(downNew!.flow?.id);
      expectBytes(down!.destination, 20000, 80);
      expectBytes(down!.source, 0, 80);
      expect(down!.flow?.flags).toContain("ASSURED");
      expect(down!.flow?.reply).toBeUndefined();
      expect(down!.flow?.start).toBe(downNew!["@timestamp"]);
      expect(down!.flow!.duration_ms!).toBeGreaterThanOrEqual(0);
      expect(Math.abs(down!.flow!.duration_ms! - (Date.parse(down!.flow!.end!) - Date.parse(down!.flow!.start!)))).toBeLessThanOrEqual(1);

      // Client → server 50 000 bytes on 5002.
      const [up] = flowTo(run.events, "end", V4.server, 5002);
      expect(up).toBeTruthy();
      expectBytes(up!.source, 50000, 80);
      expectBytes(up!.destination, 0, 80);
      expect(up!.network?.bytes).toBe(up!.source!.bytes! + up!.destination!.bytes!);

      // UDP: exactly one datagram each way, 48 bytes of IPv6 + UDP headers.
      const [u] = flowTo(run.events, "end", V6.server, 7002);
      expect(u).toBeTruthy();
      expect(u!.source).toMatchObject({ ip: V6.client, bytes: 1048, packets: 1 });
      expect(u!.destination).toMatchObject({ ip: V6.server, port: 7002, bytes: 748, packets: 1 });
      expect(u!.network).toMatchObject({ transport: "udp", type: "ipv6" });
      expect(run.collector.stats.malformed).toBe(0);
    } finally {
      await run.stop();
    }
    // Stopped cleanly: conntrack is gone from the namespace.
    const pids = await lab.exec(server, "sh", ["-c", "for p in $(ip netns pids $0); do cat /proc/$p/comm; done", server], { reject: false });
    expect(String(pids.stdout)).not.toMatch(/conntrack/);
  }, 60_000);

  it("restarts conntrack when it dies, and keeps emitting", async () => {
    const run = startCollector();
    try {
      await conntrackListening(run.collector);
      const first = run.collector.stats.pid!;
      process.kill(first, "SIGKILL");
      await until("a restart", () => run.collector.stats.starts === 2 && run.collector.stats.running);
      expect(run.reports.some((r) => /conntrack exited \(killed by SIGKILL\); restarting/.test(r))).toBe(true);
      await conntrackListening(run.collector);
      expect(run.collector.stats.pid).not.toBe(first);
      await lab.exec(client, "socat", ["-u", "/dev/null", `TCP:${V4.server}:5999`], { reject: false });
      await until("the refused connection's flow end", () => flowTo(run.events, "end", V4.server, 5999).length === 1);
      expect(run.collector.stats.exits).toBe(1);
    } finally {
      await run.stop();
    }
  }, 30_000);

  it("without leave to change sysctls: says accounting is off, and flows come without counters", async () => {
    await lab.exec(server, "sh", ["-c", "echo 0 > /proc/sys/net/netfilter/nf_conntrack_acct"]);
    const run = startCollector({ tuneSysctls: false });
    try {
      await conntrackListening(run.collector);
      expect(run.collector.stats.accounting).toBe(false);
      expect(run.reports.some((r) => /nf_conntrack_acct=0 .*may not change it: flow end events carry no bytes\/packets/.test(r))).toBe(true);
      await lab.exec(client, "socat", ["-u", "/dev/null", `TCP:${V4.server}:5998`], { reject: false });
      await until("the refused connection's flow end", () => flowTo(run.events, "end", V4.server, 5998).length === 1);
      const [end] = flowTo(run.events, "end", V4.server, 5998);
      expect(end!.source?.bytes).toBeUndefined();
      expect(end!.network?.bytes).toBeUndefined();
      expect(end!.flow?.state).toBe("CLOSE");
    } finally {
      await run.stop();
      await lab.exec(server, "sh", ["-c", "echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct"]);
    }
  }, 30_000);

  it("raises the event socket's buffer only while conntrack starts, then restores net.core.rmem_default", async () => {
    const before = (await readFile("/proc/sys/net/core/rmem_default", "utf8")).trim();
    const run = startCollector({ bufferBytes: 8 * 1024 * 1024 });
    try {
      await conntrackListening(run.collector);
      expect(run.collector.stats.socketBufferBytes).toBe(Number(before) >= 8 * 1024 * 1024 ? Number(before) : 8 * 1024 * 1024);
      expect((await readFile("/proc/sys/net/core/rmem_default", "utf8")).trim()).toBe(before);
    } finally {
      await run.stop();
    }
  }, 30_000);

  it("a port-scan burst: every NEW ends with its DESTROY or is counted lost; dropped events show as ENOBUFS", async () => {
    const scan = () => lab.exec(client, "nmap", ["-n", "-Pn", "-sS", "-p", "1-65535", "--min-rate", "100000", "--max-retries", "0", V4.server], { reject: false });
    const PROBES = 65535;
    const outcomes: Record<string, { new: number; destroy: number; lostBuffer: number; unmatchedNew: number; destroyWithoutNew: number }> = {};
    for (const [label, bufferBytes] of [["default", 0], ["16MiB", 16 * 1024 * 1024]] as const) {
      const run = startCollector({ bufferBytes, lostAfterMs: 1000 });
      try {
        await conntrackListening(run.collector);
        await scan();
        // Let conntrack drain what it has, then call every NEW without a DESTROY lost.
        let last = -1;
        await until("the event stream to settle", () => {
          const n = run.collector.stats.lines;
          const settled = n === last;
          last = n;
          return settled;
        }, 60_000);
        run.collector.decoder.expire(Date.now() + 2000);
        const s = run.collector.stats;
        outcomes[label] = { new: s.new, destroy: s.destroy, lostBuffer: s.lostBuffer, unmatchedNew: s.unmatchedNew, destroyWithoutNew: s.destroyWithoutNew };
        // Every NEW ended one way: with its DESTROY or counted lost.
        expect(s.new).toBe(s.destroy - s.destroyWithoutNew + s.unmatchedNew);
        // Fewer events than the scan made means the kernel dropped some: conntrack said so, and hv counted it.
        if (s.new < PROBES || s.destroy < PROBES) expect(s.lostBuffer).toBeGreaterThan(0);
        if (s.lostBuffer > 0) expect(run.reports.some((r) => r.includes("ENOBUFS"))).toBe(true);
      } finally {
        await run.stop();
      }
    }
    console.log(`conntrack burst of ${PROBES} SYN probes: ${JSON.stringify(outcomes)}`);
  }, 180_000);
});

/** Sent bytes: the payload plus at most `perPacket` bytes of headers per packet, and packets > 0. */
function expectBytes(side: HvEvent["source"], payload: number, perPacket: number): void {
  expect(side?.packets).toBeGreaterThan(0);
  expect(side!.bytes!).toBeGreaterThanOrEqual(payload);
  expect(side!.bytes!).toBeLessThanOrEqual(payload + perPacket * side!.packets!);
}
