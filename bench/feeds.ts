// Feed benchmark: parse throughput per format (entries/s), the safety filter's throughput, and
// a full sync of N entries from a loopback HTTP server into a store file (first sync, then a
// re-sync where 10% of the entries changed). Prints numbers, asserts nothing.
//
//   npm run build && node dist/bench/feeds.js [--entries 100000] [--json]
//   npm run build && node dist/bench/feeds.js --large 3800000     a ~50 MB local feed, streamed sync vs in-memory parse

import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFeed } from "../src/feeds/formats/index.js";
import type { FeedFormat } from "../src/events/feed.js";
import { filterUnsafe } from "../src/feeds/safety.js";
import { validateFeedSpec } from "../src/feeds/spec.js";
import { syncFeed } from "../src/feeds/sync.js";
import { addFeed } from "../src/store/feeds.js";
import { openStore } from "../src/store/open.js";

function args(): { entries: number; json: boolean; large?: number } {
  const a = process.argv.slice(2);
  const i = a.indexOf("--entries");
  const l = a.indexOf("--large");
  return { entries: i >= 0 ? Number(a[i + 1]) : 100_000, json: a.includes("--json"), ...(l >= 0 ? { large: Number(a[l + 1]) || 3_800_000 } : {}) };
}

const DIST = new URL("../src/", import.meta.url).href;

/** Runs `body` (an ES module's code) in a fresh node, whose peak RSS is then the work's own; returns what it printed as JSON. */
function inChild(body: string): Record<string, number> {
  const script = `${body}\nconst ru = process.resourceUsage();\nprocess.stdout.write(JSON.stringify({ ...result, maxRssMiB: Math.round(ru.maxRSS / 1024) }));`;
  return JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", maxBuffer: 1 << 20 })) as Record<string, number>;
}

/**
 * A local feed of `n` addresses (3.8M is about 50 MB) synced the way hv does it — streamed into a
 * staging table, then applied in one transaction — beside the peer that reads the whole text and
 * parses and filters it in memory (what a sync did before it streamed), each in its own process.
 */
function largeBench(n: number): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-feeds-large-"));
  try {
    const file = join(dir, "large.txt");
    const fd = openSync(file, "w");
    for (let i = 0; i < n; i += 100_000) writeSync(fd, Array.from({ length: Math.min(100_000, n - i) }, (_, k) => address((i + k) * 3)).join("\n") + "\n");
    closeSync(fd);
    const mb = +(statSync(file).size / 1e6).toFixed(1);
    const streamed = inChild(`
      const { syncFeed } = await import(${JSON.stringify(DIST + "feeds/sync.js")});
      const { addFeed } = await import(${JSON.stringify(DIST + "store/feeds.js")});
      const { openStore } = await import(${JSON.stringify(DIST + "store/open.js")});
      const { validateFeedSpec } = await import(${JSON.stringify(DIST + "feeds/spec.js")});
      const db = openStore(${JSON.stringify(join(dir, "hv.db"))});
      addFeed(db, validateFeedSpec({ name: "large", url: ${JSON.stringify(file)}, format: "plain", enabled: true, action: "block" }));
      let t = performance.now();
      const first = await syncFeed(db, "large", { interfaces: false });
      const firstS = (performance.now() - t) / 1000;
      t = performance.now();
      const again = await syncFeed(db, "large", { interfaces: false, force: true });
      const resyncS = (performance.now() - t) / 1000;
      if (first.status !== "updated" || again.status !== "unchanged") throw new Error(first.status + " " + again.status);
      const result = { entries: first.entries, firstS, resyncS };`);
    const inMemory = inChild(`
      const { readFileSync } = await import("node:fs");
      const { parseFeed } = await import(${JSON.stringify(DIST + "feeds/formats/index.js")});
      const { filterUnsafe } = await import(${JSON.stringify(DIST + "feeds/safety.js")});
      const t = performance.now();
      const parsed = parseFeed(readFileSync(${JSON.stringify(file)}, "utf8"), { source: "large", format: "plain" });
      const f = filterUnsafe(parsed.indicators, { interfaces: false });
      const result = { entries: f.accepted.length, parseAndFilterS: (performance.now() - t) / 1000 };`);
    return { entries: n, mb, streamed, inMemory };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Distinct public IPv4 addresses from 11.0.0.0 up (no RNG: runs compare). */
function address(i: number, salt = 0): string {
  const n = (11 << 24) + i + salt * (1 << 22);
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function documents(n: number): Array<{ format: FeedFormat; text: string }> {
  const ips = Array.from({ length: n }, (_, i) => address(i));
  return [
    { format: "plain", text: "# bench\n" + ips.join("\n") + "\n" },
    { format: "spamhaus-drop", text: ips.map((_, i) => `${address(i * 256)}/24 ; SBL${i}`).join("\n") + "\n" },
    { format: "spamhaus-json", text: ips.map((ip, i) => JSON.stringify({ cidr: `${ip}/32`, sblid: `SBL${i}`, rir: "ripencc" })).join("\n") + `\n{"type":"metadata","records":${n}}\n` },
    { format: "feodo-csv", text: '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n' + ips.map((ip) => `"2026-11-01 10:00:00","${ip}","443","online","2026-11-25","Pikabot"`).join("\n") + "\n" },
    { format: "domains", text: ips.map((_, i) => `host${i}.c2-${i % 977}.example.com`).join("\n") + "\n" },
    {
      format: "stix",
      text: JSON.stringify({ type: "bundle", id: "bundle--1", objects: ips.map((ip, i) => ({ type: "indicator", id: `indicator--${i}`, pattern_type: "stix", pattern: `[ipv4-addr:value = '${ip}']`, valid_from: "2026-01-01T00:00:00Z" })) }),
    },
  ];
}

async function syncBench(n: number): Promise<Record<string, number>> {
  let body = "";
  const server = createServer((_req, res) => res.writeHead(200, { "content-type": "text/plain", "content-length": String(Buffer.byteLength(body)) }).end(body));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-feeds-"));
  const db = openStore(join(dir, "hv.db"));
  try {
    addFeed(db, validateFeedSpec({ name: "bench", url: `http://127.0.0.1:${port}/feed.txt`, format: "plain", enabled: true, action: "block" }));
    body = Array.from({ length: n }, (_, i) => address(i)).join("\n") + "\n";
    let t = performance.now();
    const first = await syncFeed(db, "bench", { retries: 0 });
    const firstS = (performance.now() - t) / 1000;
    // 10% of the entries replaced by new ones
    body = Array.from({ length: n }, (_, i) => (i % 10 === 0 ? address(i, 1) : address(i))).join("\n") + "\n";
    t = performance.now();
    const second = await syncFeed(db, "bench", { retries: 0, force: true });
    const secondS = (performance.now() - t) / 1000;
    if (first.status !== "updated" || second.status !== "updated") throw new Error(`bench sync: ${first.status} ${second.status} ${second.reason ?? ""}`);
    return { entries: first.entries, firstSyncS: firstS, resyncS: secondS, resyncAdded: second.added, resyncRemoved: second.removed, bytes: first.bytes ?? 0 };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
    server.close();
  }
}

async function main(): Promise<void> {
  const { entries, json, large } = args();
  if (large) {
    const r = largeBench(large);
    if (json) process.stdout.write(JSON.stringify(r) + "\n");
    else {
      const st = r.streamed as Record<string, number>;
      const mem = r.inMemory as Record<string, number>;
      process.stdout.write(`feeds benchmark: a local feed of ${large} addresses (${String(r.mb)} MB)\n`);
      process.stdout.write(`  hv sync, streamed into the store: first ${st.firstS!.toFixed(1)} s, re-sync ${st.resyncS!.toFixed(1)} s, peak RSS ${st.maxRssMiB} MiB\n`);
      process.stdout.write(`  peer: whole text parsed and filtered in memory (no store): ${mem.parseAndFilterS!.toFixed(1)} s, peak RSS ${mem.maxRssMiB} MiB\n`);
    }
    return;
  }
  const out: Record<string, unknown> = { entries };
  for (const doc of documents(entries)) {
    const t = performance.now();
    const p = parseFeed(doc.text, { source: "bench", format: doc.format });
    const s = (performance.now() - t) / 1000;
    out[`parse_${doc.format}`] = { indicators: p.indicators.length, seconds: +s.toFixed(3), perSecond: Math.round(p.indicators.length / s), mb: +(doc.text.length / 1e6).toFixed(1) };
  }
  const plain = parseFeed(documents(entries)[0]!.text, { source: "bench", format: "plain" });
  let t = performance.now();
  const f = filterUnsafe(plain.indicators);
  const fs = (performance.now() - t) / 1000;
  out.safetyFilter = { accepted: f.accepted.length, perSecond: Math.round(plain.indicators.length / fs) };
  t = performance.now();
  out.sync = await syncBench(entries);
  out.rssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
  if (json) {
    process.stdout.write(JSON.stringify(out) + "\n");
    return;
  }
  process.stdout.write(`feeds benchmark, ${entries} entries per document\n`);
  for (const [k, v] of Object.entries(out)) if (k.startsWith("parse_")) {
    const p = v as { indicators: number; seconds: number; perSecond: number; mb: number };
    process.stdout.write(`  parse ${k.slice(6).padEnd(14)} ${String(p.perSecond).padStart(9)} entries/s  (${p.indicators} in ${p.seconds} s, ${p.mb} MB)\n`);
  }
  process.stdout.write(`  safety filter        ${String((out.safetyFilter as { perSecond: number }).perSecond).padStart(9)} entries/s\n`);
  const s = out.sync as Record<string, number>;
  process.stdout.write(`  sync ${s.entries} entries from loopback HTTP into a store file: first ${s.firstSyncS!.toFixed(2)} s, re-sync with 10% changed ${s.resyncS!.toFixed(2)} s (+${s.resyncAdded} -${s.resyncRemoved})\n`);
  process.stdout.write(`  rss ${String(out.rssMiB)} MiB\n`);
}

await main();
