// The flow detectors on real conntrack recordings of a small hypervisor lab (VMs as namespaces on a
// bridge behind a NAT uplink; nmap, hydra, curl, nping/hping3, iodine, ptunnel-ng, ssh, PostgreSQL
// run for real; see the truth files in test/fixtures/flows/lab/ and docs/flow-lab.md). The
// evaluation take (test/fixtures/flows/eval/) is not replayed here: it is scored by
// scripts/flow-lab/score.py, never tuned on. Every attack in a truth file must become a detection of its kind,
// attributed to its VM, naming its destination, at its time; and benign traffic must stay quiet:
// no alert about a VM the truth file lists as benign (all of them in a benign-only recording).

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { replayFlows } from "../../src/cli/flows.js";
import type { Alert, Detection } from "../../src/events/alert.js";
import { inNetwork, parseCidr } from "../../src/detectors/sigma/cidr.js";

const LAB = new URL("../fixtures/flows/lab/", import.meta.url).pathname;

interface Attack {
  kind: string;
  vm: string;
  destination: string;
  start: number;
  end: number;
  tool?: string;
}
interface Truth {
  attacks: Attack[];
  benignVms: string[];
}

const RULE: Record<string, RegExp> = {
  "port-scan": /^flow:port-scan$/,
  "brute-force": /^flow:brute-force$/,
  beaconing: /^flow:beacon$/,
  "large-outbound": /^flow:large-outbound$/,
  "udp-flood": /^flow:udp-flood$/,
  "feed-hit": /^intel:/,
  lateral: /^flow:lateral-movement$/,
  "dns-tunnel": /^flow:dns-tunnel$/,
  "icmp-tunnel": /^flow:icmp-tunnel$/,
};

/** DESTROY events come a TCP/UDP timeout (and an expiry sweep) after the flow. */
const LATE_MS = 180_000;

interface Seen {
  detection: Detection;
  alert: Alert;
}

function vmOf(s: Seen): string | undefined {
  return s.alert.entity.kind === "vm" ? s.alert.entity.id : undefined;
}

function namesDestination(d: Detection, destination: string): boolean {
  const [ip, port] = destination.includes("/") ? [destination, undefined] : destination.split(":");
  const net = parseCidr(ip!);
  return d.events.some((e) => e.destination?.ip !== undefined && net !== undefined && inNetwork(net, e.destination.ip) && (port === undefined || e.destination.port === Number(port)));
}

function matches(s: Seen, a: Attack): boolean {
  const t = Date.parse(s.detection.events[s.detection.events.length - 1]?.["@timestamp"] ?? "");
  return RULE[a.kind]!.test(s.detection.rule.id) && vmOf(s) === a.vm && namesDestination(s.detection, a.destination) && t >= a.start * 1000 - 1000 && t <= a.end * 1000 + LATE_MS;
}

const recordings = existsSync(LAB) ? readdirSync(LAB).filter((f) => f.endsWith(".truth.json")).map((f) => f.replace(/\.truth\.json$/, "")) : [];

async function replay(name: string): Promise<{ seen: Seen[]; alerts: Alert[] }> {
  const seen: Seen[] = [];
  const feed = join(LAB, `${name}.feed.txt`);
  const { alerts } = await replayFlows({
    file: join(LAB, `${name}.conntrack.log`),
    inventory: join(LAB, `${name}.inventory.json`),
    ...(existsSync(feed) ? { feeds: [`lab-feed=${feed}`] } : {}),
    onDetection: (detection, alert) => seen.push({ detection, alert }),
  });
  return { seen, alerts };
}

describe.skipIf(recordings.length === 0)("flow detectors on the lab recordings", () => {
  if (recordings.length === 0 && process.env.CI === "true") throw new Error(`no lab recordings in ${LAB}`);

  for (const name of recordings) {
    it(`${name}: every attack is detected as its kind, on its VM, naming its destination`, async () => {
      const truth = JSON.parse(readFileSync(join(LAB, `${name}.truth.json`), "utf8")) as Truth;
      const { seen, alerts } = await replay(name);
      const missed = truth.attacks.filter((a) => !seen.some((s) => matches(s, a)));
      expect(missed.map((a) => `${a.kind} ${a.vm} → ${a.destination}`)).toEqual([]);
      // And as alerts (deduplicated per rule and VM): one of each kind on each attacking VM.
      for (const a of truth.attacks) expect(alerts.some((al) => RULE[a.kind]!.test(al.rule.id) && al.entity.kind === "vm" && al.entity.id === a.vm)).toBe(true);
      // Alerts explained by no attack: about benign VMs, or a wrong kind on an attacking VM.
      const unexplained = seen.filter((s) => !truth.attacks.some((a) => matches(s, a)));
      const onBenign = alerts.filter((al) => truth.benignVms.includes(al.vm?.name ?? "") || (al.entity.kind === "vm" && truth.benignVms.includes(al.entity.id)));
      process.stdout.write(`${name}: ${truth.attacks.length} attacks, ${seen.length} detections → ${alerts.length} alerts; ${unexplained.length} detections explained by no attack; ${onBenign.length} alerts on benign VMs\n`);
      for (const s of unexplained) process.stdout.write(`  unexplained: ${s.detection.rule.id} ${s.alert.entity.kind}=${s.alert.entity.id}: ${s.detection.summary}\n`);
      expect(onBenign).toEqual([]);
      expect(unexplained.length).toBeLessThanOrEqual(2);
    });
  }
});
