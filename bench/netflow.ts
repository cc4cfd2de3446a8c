// NetFlow/IPFIX decode throughput: packets/s and flows/s of createNetflowDecoder on real exports,
// plus the loopback UDP path through NetflowCollector (received/sent, so kernel drops show).
// Prints numbers, asserts nothing.
//
//   npm run build && node dist/bench/netflow.js [--seconds S] [--rate PKTS_PER_S] [--json] [--no-udp]
//
// Inputs: the 92 logstash-codec-netflow packets in ../shared/data/netflow (replayed in exporter
// order, templates first), and softflowd's recorded v5/v9/IPFIX exports in test/fixtures/netflow.

import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NetflowCollector } from "../src/collectors/flows/netflow/collector.js";
import { createNetflowDecoder } from "../src/collectors/flows/netflow/decoder.js";
import { orderFiles } from "./conformance-netflow.js";
import { ROOT, SHARED } from "./data.js";

interface Input {
  name: string;
  packets: Array<{ buf: Buffer; port: number }>;
}

interface Result {
  input: string;
  packets: number;
  flows: number;
  seconds: number;
  packetsPerSec: number;
  flowsPerSec: number;
  heapMiB: number;
}

function sharedInput(): Input | undefined {
  const dir = join(SHARED, "netflow", "netflow-ipfix-packets", "spec", "codecs");
  if (!existsSync(dir)) {
    process.stderr.write(`note: ${dir} not found; only the committed softflowd fixtures are measured\n`);
    return undefined;
  }
  const groups = orderFiles(readdirSync(dir).filter((f) => f.endsWith(".dat")));
  // Each exporter group on its own source port, so template ids of different vendors do not collide.
  return { name: "logstash 92 packets (v5/v9/IPFIX, ~25 exporters)", packets: groups.flatMap((g, i) => g.map((f) => ({ buf: readFileSync(join(dir, f)), port: 10_000 + i }))) };
}

function fixtureInputs(): Input[] {
  const dir = join(ROOT, "test", "fixtures", "netflow");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => {
      const rec = JSON.parse(readFileSync(join(dir, f), "utf8")) as { packets: Array<{ port: number; hex: string }> };
      return { name: `softflowd ${f.replace(/^softflowd-|\.json$/g, "")}`, packets: rec.packets.map((p) => ({ buf: Buffer.from(p.hex, "hex"), port: p.port })) };
    });
}

function measure(input: Input, seconds: number): Result {
  const decoder = createNetflowDecoder();
  const exporter = { address: "192.0.2.1", port: 0 };
  const at = new Date();
  let packets = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < 200; i++) {
      for (const p of input.packets) {
        exporter.port = p.port;
        decoder.packet(p.buf, exporter, at);
        packets++;
      }
    }
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const flows = decoder.stats().flows;
  return { input: input.name, packets, flows, seconds: elapsed, packetsPerSec: packets / elapsed, flowsPerSec: flows / elapsed, heapMiB: process.memoryUsage().heapUsed / 2 ** 20 };
}

/**
 * A separate node process sends the input over loopback UDP at `rate` datagrams/s (paced per 10 ms
 * tick); counts what the collector decoded, so kernel drops under a sustained rate show.
 */
async function measureUdp(input: Input, seconds: number, rate: number): Promise<{ rate: number; sent: number; received: number; flows: number; packetsPerSec: number; flowsPerSec: number }> {
  const collector = new NetflowCollector({ port: 0 });
  const abort = new AbortController();
  const running = collector.run(() => undefined, abort.signal);
  const { port } = await collector.bound;
  const script = `
    const s = require("node:dgram").createSocket("udp4");
    const pkts = ${JSON.stringify(input.packets.map((p) => p.buf.toString("hex")))}.map((h) => Buffer.from(h, "hex"));
    const perTick = Math.max(1, Math.round(${rate} / 100)); let sent = 0; const end = Date.now() + ${seconds * 1000};
    const t = setInterval(() => {
      if (Date.now() >= end) { clearInterval(t); setTimeout(() => { console.log(sent); s.close(); }, 100); return; }
      for (let i = 0; i < perTick; i++) s.send(pkts[sent++ % pkts.length], ${port}, "127.0.0.1");
    }, 10);`;
  const start = Date.now();
  // Asynchronously: the collector must keep reading while the sender runs.
  const out = await new Promise<string>((resolve, reject) => execFile(process.execPath, ["-e", script], { encoding: "utf8" }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
  await new Promise((r) => setTimeout(r, 300));
  const elapsed = (Date.now() - start) / 1000;
  abort.abort();
  await running;
  const s = collector.stats();
  return { rate, sent: Number(out.trim()), received: s.packets, flows: s.flows, packetsPerSec: s.packets / elapsed, flowsPerSec: s.flows / elapsed };
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write("usage: node dist/bench/netflow.js [--seconds S] [--rate PKTS_PER_S] [--json] [--no-udp]\n  e.g. node dist/bench/netflow.js --seconds 1 --json\n");
    return;
  }
  const i = argv.indexOf("--seconds");
  const seconds = i >= 0 ? Number(argv[i + 1]) : 2;
  const inputs = [sharedInput(), ...fixtureInputs()].filter((x): x is Input => x !== undefined);
  const results = inputs.map((input) => measure(input, seconds));
  // The v9 softflowd export through a real socket: the mix a small host would send.
  const udpInput = inputs.find((x) => x.name === "softflowd v9") ?? inputs[0]!;
  const r = argv.indexOf("--rate");
  const rate = r >= 0 ? Number(argv[r + 1]) : 2000;
  const udp = argv.includes("--no-udp") ? undefined : { input: udpInput.name, ...(await measureUdp(udpInput, seconds, rate)) };
  if (argv.includes("--json")) {
    process.stdout.write(JSON.stringify({ node: process.version, decode: results, udp }, null, 1) + "\n");
    return;
  }
  process.stdout.write(`NetFlow/IPFIX decode (node ${process.version}, ${seconds}s each)\n`);
  for (const r of results) {
    process.stdout.write(`  ${r.input.padEnd(50)} ${Math.round(r.packetsPerSec).toLocaleString("en").padStart(10)} packets/s ${Math.round(r.flowsPerSec).toLocaleString("en").padStart(11)} flows/s  heap ${r.heapMiB.toFixed(0)} MiB\n`);
  }
  if (udp) process.stdout.write(`  loopback UDP → NetflowCollector (${udp.input}) offered ${udp.rate}/s by another process: sent ${udp.sent}, decoded ${udp.received} (${((100 * udp.received) / udp.sent).toFixed(1)}%), ${Math.round(udp.packetsPerSec).toLocaleString("en")} packets/s, ${Math.round(udp.flowsPerSec).toLocaleString("en")} flows/s\n`);
}

await main(process.argv.slice(2));
