// capturePcap with the real tcpdump on a veth pair between two network namespaces (prefix hvfor):
// tcpdump runs inside namespace "a" (through a tiny wrapper script given as the tcpdump binary),
// node sends UDP datagrams from "b" (no ping binary needed). The written file is read back with `tcpdump -r`.

import { execa } from "execa";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capturePcap } from "../../src/forensics/pcap.js";
import { NetnsLab, netnsSkipReason } from "../helpers/netns.js";

const skip = netnsSkipReason(["tcpdump"]);

/** Sends `count` UDP datagrams of `size` bytes from namespace ns to NET.1:9, `gapMs` apart. */
function sendUdp(ns: string, count: number, size: number, gapMs: number) {
  const script = `const s=require("dgram").createSocket("udp4");let n=0;const t=setInterval(()=>{s.send(Buffer.alloc(${size},120),9,"${NET}.1");if(++n>=${count}){clearInterval(t);setTimeout(()=>s.close(),100);}},${gapMs});`;
  return lab.exec(ns, process.execPath, ["-e", script]);
}
const lab = new NetnsLab("hvfor");
const NET = `10.${200 + Math.floor(Math.random() * 50)}.${1 + Math.floor(Math.random() * 250)}`;
let dir = "";
let nsA = "";
let nsB = "";
let ifA = "";
let wrapper = "";

async function readBack(file: string): Promise<number> {
  const r = await execa("tcpdump", ["-n", "-r", file], { reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.split("\n").filter(Boolean).length;
}

describe.skipIf(skip !== undefined)("capturePcap (real tcpdump, veth in namespaces)", () => {
  beforeAll(async () => {
    await lab.cleanup();
    dir = mkdtempSync(join(tmpdir(), "hv-for-pcap-"));
    nsA = await lab.namespace("a");
    nsB = await lab.namespace("b");
    ({ a: ifA } = await lab.link({ ns: nsA, ip: `${NET}.1/24` }, { ns: nsB, ip: `${NET}.2/24` }));
    wrapper = join(dir, "tcpdump-in-ns");
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${nsA} tcpdump "$@"\n`, { mode: 0o755 });
  });
  afterAll(async () => {
    await lab.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("captures the pings for the given seconds; packet count matches what tcpdump -r reads", async () => {
    const file = join(dir, "ping.pcap");
    let listening = false;
    const run = capturePcap({ devices: [ifA], seconds: 3, maxBytes: 10 * 1024 * 1024, file, tcpdump: wrapper, onListening: () => (listening = true) });
    while (!listening) await new Promise((r) => setTimeout(r, 50));
    await sendUdp(nsB, 5, 64, 200);
    const r = await run;
    expect(r).toMatchObject({ file, truncated: false, stoppedBy: "time" });
    // 5 datagrams (+ ARP, and ICMP port-unreachable replies from a)
    expect(r.packets).toBeGreaterThanOrEqual(5);
    const text = (await execa("tcpdump", ["-n", "-r", file])).stdout;
    expect(text.split("\n").filter((l) => l.includes(`${NET}.2`) && l.includes(`${NET}.1.9: UDP, length 64`))).toHaveLength(5);
    expect(r.bytes).toBe(statSync(file).size);
    expect(await readBack(file)).toBe(r.packets);
  }, 20_000);

  it("stops at maxBytes on a packet boundary and says so", async () => {
    const file = join(dir, "flood.pcap");
    let listening = false;
    const run = capturePcap({ devices: [ifA], seconds: 10, maxBytes: 3000, file, tcpdump: wrapper, onListening: () => (listening = true) });
    while (!listening) await new Promise((r) => setTimeout(r, 50));
    await sendUdp(nsB, 100, 200, 2);
    const r = await run;
    expect(r.truncated).toBe(true);
    expect(r.stoppedBy).toBe("size");
    expect(statSync(file).size).toBeLessThanOrEqual(3000);
    expect(statSync(file).size).toBeGreaterThan(3000 - 300);
    expect(await readBack(file)).toBe(r.packets);
  }, 20_000);

  it("an abort signal ends the capture early", async () => {
    const ac = new AbortController();
    const started = Date.now();
    const run = capturePcap({ devices: [ifA], seconds: 60, maxBytes: 1 << 20, file: join(dir, "abort.pcap"), tcpdump: wrapper, signal: ac.signal, onListening: () => ac.abort() });
    const r = await run;
    expect(r.stoppedBy).toBe("signal");
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 40_000);

  it("refuses more than 3600 s, bad device names, and reports tcpdump's own failure", async () => {
    await expect(capturePcap({ devices: [ifA], seconds: 3601, maxBytes: 1 << 20, file: join(dir, "x.pcap") })).rejects.toThrow(/at most 3600/);
    await expect(capturePcap({ devices: ["-i"], seconds: 1, maxBytes: 1 << 20, file: join(dir, "x.pcap") })).rejects.toThrow(/not a network device/);
    await expect(capturePcap({ devices: ["hvfor-nosuch"], seconds: 2, maxBytes: 1 << 20, file: join(dir, "x.pcap") })).rejects.toThrow(/tcpdump on hvfor-nosuch failed/);
  }, 20_000);
});
