// Latency from an audit event entering hv to the quarantine rule being in force in nftables.
//
// The agent's own stages run in this process, wired as `hv monitor` wires them: audit decoding →
// VM attribution (an inventory naming the recorded qemu pid) → the store's batch writer →
// detection (hv's Sigma rules) → alert → the playbook engine (an automatic quarantine_vm) → the
// firewall syncer (nft in a network namespace this benchmark creates, on a veth named like a tap).
// Each run feeds the real "QEMU spawns a shell" recording (test/fixtures/audit/hv, moved to now)
// and stops the clock when the action is recorded done, which is after `nft -f` has returned: the
// kernel has committed the rule. Each quarantine is checked in the namespace (untimed) and
// released before the next run.
//
// Usage: node dist/bench/response-latency.js [--runs 50] [--feed-entries 0] [--flush-ms 200]
//   --feed-entries N  also load a block feed of N addresses (the inet table then holds N elements)
//   --flush-ms MS     the store's batch flush interval (the agent's default is 200 ms)
// Needs root, nft and ip. Prints numbers, not pass/fail.

import { execa } from "execa";
import { mkdtemp, rm, writeFile, mkdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { performance } from "node:perf_hooks";
import { createAttribution } from "../src/agent/attribution.js";
import { setUpDetection } from "../src/agent/detectors.js";
import { createFirewallSyncer } from "../src/firewall/sync.js";
import { startPipeline } from "../src/agent/pipeline.js";
import { setUpResponse } from "../src/agent/response.js";
import { shippedRulesDir } from "../src/agent/config.js";
import { AuditCollector } from "../src/collectors/audit/collector.js";
import { retargetAuditRecording } from "../src/collectors/audit/retarget.js";
import { InventoryIndex } from "../src/collectors/libvirt/inventory.js";
import { releaseQuarantineByHand } from "../src/playbooks/release.js";
import { validateFeedSpec } from "../src/feeds/spec.js";
import { addFeed, applyFeedSet } from "../src/store/feeds.js";
import { openStore } from "../src/store/open.js";
import { ROOT } from "./data.js";

const NETNS = "hvbenchlat";
const TAP = "hvbl0";
// libvirt's test driver (test:///default, no daemon) has a running domain "test": the action finds it there.
const VM = "test";
const QEMU_PID = 1384; // the recording's qemu
const TABLES = { inet: "hvbenchlat", netdev: "hvbenchlat" };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(label: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `${label.padEnd(28)} p50 ${pct(s, 50).toFixed(1).padStart(7)} ms  p90 ${pct(s, 90).toFixed(1).padStart(7)} ms  p99 ${pct(s, 99).toFixed(1).padStart(7)} ms  max ${s[s.length - 1]!.toFixed(1).padStart(7)} ms`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces and nft)");
  const runs = arg("runs", 50);
  const feedEntries = arg("feed-entries", 0);
  const flushMs = arg("flush-ms", 200);
  await execa("ip", ["netns", "del", NETNS], { reject: false });
  await execa("ip", ["netns", "add", NETNS]);
  const inNs = (...a: string[]) => execa("ip", ["netns", "exec", NETNS, ...a]);
  await inNs("ip", "link", "add", TAP, "type", "veth", "peer", "name", `${TAP}p`);
  await inNs("ip", "link", "set", TAP, "up");
  const dir = await mkdtemp(join(tmpdir(), "hv-bench-latency-"));
  const abort = new AbortController();
  try {
    const db = openStore(join(dir, "hv.db"));
    if (feedEntries > 0) {
      addFeed(db, validateFeedSpec({ name: "big", url: "http://127.0.0.1:9/list.txt", format: "plain", action: "block", block: { mode: "enforce", paths: ["input", "forward", "taps"] } }));
      // Every other address of 10/8 (the set lives only in this benchmark's namespace), so none merge into ranges.
      const entries = Array.from({ length: feedEntries }, (_, i) => ({ value: `10.${((2 * i) >> 16) & 255}.${((2 * i) >> 8) & 255}.${(2 * i) & 255}`, kind: "ip" as const }));
      applyFeedSet(db, "big", entries, { now: Date.now(), rejected: 0 });
    }
    const pb = join(dir, "playbooks");
    await mkdir(pb);
    await writeFile(
      join(pb, "quarantine.yml"),
      ["id: bench-quarantine", "title: quarantine on a VM escape sign", "mode: automatic", "match:", "  rules: [caa1bc1b-5329-4d1b-8e56-af2a262d95b9]", "  entity: [vm]", "actions:", "  - action: quarantine_vm", "cooldown: 0s", ""].join("\n"),
    );
    const inventory = new InventoryIndex();
    inventory.replace([{ name: VM, uuid: "6f1c1e7e-0000-4000-8000-0000000000b1", state: "running", qemuPid: QEMU_PID, interfaces: [{ tap: TAP }] }]);
    const config = { response: { maxQuarantinesPerHour: 1_000_000 }, firewall: { tables: TABLES, netns: NETNS } };
    const firewall = createFirewallSyncer(db, { taps: [TAP], vmTaps: () => [TAP], tables: TABLES, netns: NETNS });
    await firewall.sync();

    let waiting: ((at: number) => void) | undefined;
    const marks = { stored: 0, alerted: 0 };
    const response = setUpResponse({
      db,
      config,
      stateDir: dir,
      live: true,
      inventory,
      firewall,
      sinks: [],
      playbookPaths: [pb],
      libvirtUri: "test:///default",
      report: (t) => (t.includes("problem") ? process.stderr.write(`${t}\n`) : undefined),
      onAction: (row) => {
        if (row.action === "quarantine_vm" && row.status === "done") waiting?.(performance.now());
        else if (row.status === "failed" || row.status === "refused") process.stderr.write(`action ${row.id}: ${row.status}: ${row.result}\n`);
      },
      tickMs: 60_000,
    });
    const detection = setUpDetection({
      rulePaths: [shippedRulesDir()],
      db,
      onAlert: (u) => {
        marks.alerted ||= performance.now();
        response.onAlert(u);
      },
    });
    const stream = new PassThrough();
    const collector = new AuditCollector({ kind: "stream", stream, label: "bench" });
    const attribute = createAttribution(inventory, { processes: collector.decoder.processes });
    const pipeline = startPipeline(
      {
        db,
        collectors: [collector],
        flushIntervalMs: flushMs,
        enrich: attribute,
        onEvents: (events) => {
          // The first batch of this run (a recording can be stored in two).
          marks.stored ||= performance.now();
          detection.stage.onEvents(events);
        },
      },
      abort.signal,
    );

    const recording = await readFile(join(ROOT, "test/fixtures/audit/hv/qemu_child_shell.log"), "utf8");
    const total: number[] = [];
    const toStored: number[] = [];
    const toAlert: number[] = [];
    const toRule: number[] = [];
    process.stdout.write(`response latency: ${runs} runs, store flush ${flushMs} ms, block feed of ${feedEntries} entries, nft in netns ${NETNS}\n`);
    for (let i = 0; i < runs; i++) {
      const lines = retargetAuditRecording(recording, { pids: new Map([[QEMU_PID, QEMU_PID]]), startSerial: 950_000_000 + i * 1000 });
      const done = new Promise<number>((resolve) => (waiting = resolve));
      marks.stored = 0;
      marks.alerted = 0;
      const t0 = performance.now();
      stream.write(lines);
      const t1 = await done;
      total.push(t1 - t0);
      toStored.push(marks.stored - t0);
      toAlert.push(marks.alerted - marks.stored);
      toRule.push(t1 - marks.alerted);
      const chain = await inNs("nft", "list", "table", "netdev", TABLES.netdev);
      if (!chain.stdout.includes(`"${TAP}"`)) throw new Error(`run ${i}: the quarantine rule is not in nft`);
      await response.responder.idle();
      await releaseQuarantineByHand(db, { syncFirewall: async () => void (await firewall.sync()) }, VM, "bench");
    }
    process.stdout.write(`${summary("event in → rule in force", total)}\n`);
    process.stdout.write(`${summary("  event in → stored batch", toStored)}\n`);
    process.stdout.write(`${summary("  stored → alert", toAlert)}\n`);
    process.stdout.write(`${summary("  alert → nft committed", toRule)}\n`);
    process.stdout.write(`rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB\n`);
    stream.end();
    abort.abort();
    await pipeline.done;
    await response.close();
    db.close();
  } finally {
    abort.abort();
    await execa("ip", ["netns", "del", NETNS], { reject: false });
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench response-latency: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
