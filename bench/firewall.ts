// nftables layer benchmark, in a network namespace it creates (hvfw-bench-…, root needed):
//   1. cold: 100k random entries (v4 /32 and CIDRs, v6 /128 and prefixes) → one feed set applied;
//   2. update: 10% of the entries replaced → the set's contents rewritten in one transaction;
//   3. no-op reconcile (read back 100k elements and compare);
//   4. a 100k-line feed served over loopback HTTP → syncFeed → store → reconcile → set applied;
//   5. quarantine latency: enforce (store) → syncFirewall returns with the quarantine in force,
//      with no feeds and next to the 100k-entry feed (its set and chains are not rewritten).
// Prints seconds, and the peak RSS of the nft processes when /usr/bin/time exists (Debian: time).
//
//   npm run build && node dist/bench/firewall.js [--entries N]

import { execa } from "execa";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { desiredFirewallState, syncFirewall } from "../src/firewall/sync.js";
import { syncFeed } from "../src/feeds/sync.js";
import { validateFeedSpec } from "../src/feeds/spec.js";
import { formatAddress } from "../src/firewall/addresses.js";
import { buildTables } from "../src/firewall/build.js";
import { listObjects } from "../src/firewall/nft.js";
import { reconcile } from "../src/firewall/reconcile.js";
import type { FirewallState } from "../src/firewall/state.js";
import { enforce, releaseEnforcement } from "../src/store/enforcements.js";
import { addFeed } from "../src/store/feeds.js";
import { openStore } from "../src/store/open.js";
import { createRng } from "../src/detectors/anomaly/rng.js";

// A small seeded PRNG so runs are comparable.
/** Random public-looking entries: 60% v4 /32, 20% v4 /16–/30, 10% v6 /128, 10% v6 /32–/64. */
function entries(n: number, seed: number): string[] {
  const r = createRng(seed).next;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.8) {
      // 1.0.0.0 – 223.255.255.255 without 10/8 and 127/8 (feeds refuse loopback, and 10/8 is where tests live).
      let first = 1 + Math.floor(r() * 223);
      if (first === 10 || first === 127) first = 11;
      const addr = formatAddress((BigInt(first) << 24n) | BigInt(Math.floor(r() * 2 ** 24)), "ip");
      out.push(k < 0.6 ? addr : `${addr}/${16 + Math.floor(r() * 15)}`);
    } else {
      let n6 = 0x2001n << 112n;
      for (let b = 0; b < 7; b++) n6 |= BigInt(Math.floor(r() * 65536)) << BigInt(b * 16);
      const addr = formatAddress(n6, "ip6");
      out.push(k < 0.9 ? addr : `${addr}/${32 + Math.floor(r() * 33)}`);
    }
  }
  return out;
}

function stateOf(list: string[]): FirewallState {
  return { sets: [{ name: "bench", mode: "enforce", paths: ["input", "forward", "output"], v4: list.filter((e) => !e.includes(":")), v6: list.filter((e) => e.includes(":")) }], taps: [] };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const n = argv[0] === "--entries" ? Number(argv[1]) : 100_000;
  if (process.getuid?.() !== 0) {
    process.stderr.write("skipping: the firewall benchmark needs root (network namespaces, nft)\n");
    return;
  }
  const ns = `hvfw-bench-${process.pid}`;
  const dir = await mkdtemp(join(tmpdir(), "hvfw-bench-"));
  await execa("ip", ["netns", "add", ns]);
  try {
    // nft through a wrapper that records each run's peak RSS (KiB), when GNU time is there.
    let nft = "nft";
    const rssLog = join(dir, "rss.log");
    if (existsSync("/usr/bin/time")) {
      nft = join(dir, "nft-timed.sh");
      await writeFile(nft, `#!/bin/sh\nexec /usr/bin/time -f "%M $1 $2" -a -o ${rssLog} nft "$@"\n`);
      await chmod(nft, 0o755);
    } else process.stderr.write("note: /usr/bin/time not found (Debian package time): no nft memory figures\n");
    const peak = async (): Promise<string> => {
      if (!existsSync(rssLog)) return "n/a";
      const kib = (await readFile(rssLog, "utf8")).trim().split("\n").filter((l) => /^\d+ /.test(l)).map((l) => Number(l.split(" ")[0]));
      await rm(rssLog);
      return `${(Math.max(...kib) / 1024).toFixed(0)} MiB`;
    };
    const opts = { netns: ns, nft };

    const list = entries(n, 1);
    let t = performance.now();
    const tables = buildTables(stateOf(list));
    const buildS = (performance.now() - t) / 1000;
    const elements = tables[0]!.sets.reduce((s, x) => s + x.intervals.length, 0);
    console.log(`entries: ${n} → ${elements} set elements after collapsing (build + collapse ${buildS.toFixed(2)} s)`);

    t = performance.now();
    const cold = await reconcile(stateOf(list), opts);
    console.log(`cold apply:            ${((performance.now() - t) / 1000).toFixed(2)} s  (${cold.action}, ${cold.commands} commands; nft peak ${await peak()})`);

    const updated = [...list];
    const fresh = entries(Math.floor(n / 10), 2);
    for (let i = 0; i < fresh.length; i++) updated[i * 10] = fresh[i]!;
    t = performance.now();
    const upd = await reconcile(stateOf(updated), opts);
    console.log(`update (10% replaced): ${((performance.now() - t) / 1000).toFixed(2)} s  (${upd.action}; nft peak ${await peak()})`);

    t = performance.now();
    const same = await reconcile(stateOf(updated), opts);
    console.log(`no-op reconcile:       ${((performance.now() - t) / 1000).toFixed(2)} s  (${same.action}; nft peak ${await peak()})`);
    t = performance.now();
    await listObjects(["table", "inet", "hv"], { netns: ns });
    console.log(`  of which nft -j list table (all elements): ${((performance.now() - t) / 1000).toFixed(2)} s`);

    // Feed over loopback HTTP → sync → store → nft.
    const body = entries(n, 3).join("\n") + "\n";
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const db = openStore(join(dir, "hv.db"));
      addFeed(db, validateFeedSpec({ name: "bench-http", url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/list.txt`, format: "plain", action: "block", block: { mode: "enforce", paths: ["input", "forward"] } }));
      t = performance.now();
      const s = await syncFeed(db, "bench-http", { retries: 0 });
      const syncS = (performance.now() - t) / 1000;
      let t2 = performance.now();
      const desired = desiredFirewallState(db);
      const storeS = (performance.now() - t2) / 1000;
      t2 = performance.now();
      const fw = await reconcile(desired.state, { ...opts, tables: { inet: "hvfeed", netdev: "hvfeed" } });
      const fwS = (performance.now() - t2) / 1000;
      console.log(`feed over HTTP: ${(body.length / 1e6).toFixed(1)} MB, sync ${syncS.toFixed(2)} s (${s.status}, ${s.entries} entries, ${s.rejected} rejected) + desired state from the store ${storeS.toFixed(2)} s + reconcile ${fwS.toFixed(2)} s (${fw.action}) = ${(syncS + storeS + fwS).toFixed(2)} s; nft peak ${await peak()}`);

      // Quarantine latency, both with an empty store and next to the feed just loaded.
      await execa("ip", ["netns", "exec", ns, "ip", "link", "add", "hvfwq-bt0", "type", "veth", "peer", "name", "hvfwq-bt1"]);
      const empty = openStore(join(dir, "empty.db"));
      await quarantineLatency("no feeds", empty, { ...opts, tables: { inet: "hvq0", netdev: "hvq0" } });
      await quarantineLatency(`next to ${s.entries} feed entries`, db, { ...opts, tables: { inet: "hvfeed", netdev: "hvfeed" } });
      empty.close();
      db.close();
    } finally {
      server.close();
    }
  } finally {
    await execa("ip", ["netns", "del", ns], { reject: false });
    await rm(dir, { recursive: true, force: true });
  }
}

/** enforce → syncFirewall → the quarantine's chains are in; then release. Prints each run and the median. */
async function quarantineLatency(label: string, db: ReturnType<typeof openStore>, opts: { netns: string; nft: string; tables: { inet: string; netdev: string } }): Promise<void> {
  const runs = 5;
  const on: number[] = [];
  const off: number[] = [];
  let last = "";
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    enforce(db, { kind: "quarantine", target: "bench-vm", detail: { taps: ["hvfwq-bt0"], keep: ["10.0.0.5"] } });
    const r = await syncFirewall(db, opts);
    on.push(performance.now() - t);
    last = `${r.tables.map((x) => `${x.table} ${x.action}`).join(", ")}; ${r.commands} commands`;
    t = performance.now();
    releaseEnforcement(db, "quarantine", "bench-vm", "bench", "bench");
    await syncFirewall(db, opts);
    off.push(performance.now() - t);
  }
  const median = (xs: number[]): string => ([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! / 1000).toFixed(3);
  console.log(`quarantine ${label}: enforce → syncFirewall returned, median of ${runs}: ${median(on)} s (${last}); release ${median(off)} s`);
}

await main();
