// The agent's network wiring without the CLI: feeds in the store → the intel detector, and the
// flow detectors, over the real lab recording, through the same detection stage `hv monitor` uses.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createAttribution } from "../../src/agent/attribution.js";
import { setUpDetection } from "../../src/agent/detectors.js";
import { setUpNetwork } from "../../src/agent/network.js";
import { createConntrackDecoder } from "../../src/collectors/flows/conntrack-decode.js";
import { loadInventoryFile } from "../../src/collectors/libvirt/inventory.js";
import type { Alert } from "../../src/events/alert.js";
import type { HvEvent } from "../../src/events/event.js";
import { syncFeed } from "../../src/feeds/sync.js";
import { addFeed } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { tempDir } from "../store/tmp.js";

const LAB = join(import.meta.dirname, "../fixtures/flows/lab");

function labEvents(): HvEvent[] {
  const inventory = loadInventoryFile(join(LAB, "lab.inventory.json"));
  const attribute = createAttribution(inventory);
  const decoder = createConntrackDecoder();
  const events: HvEvent[] = [];
  readFileSync(join(LAB, "lab.conntrack.log"), "utf8")
    .split("\n")
    .forEach((line, i) => {
      const e = decoder.line(line, i + 1);
      if (!e) return;
      attribute(e);
      events.push(e);
    });
  return events;
}

function detect(network: ReturnType<typeof setUpNetwork>, events: HvEvent[]): Alert[] {
  const alerts: Alert[] = [];
  const detection = setUpDetection({ rulePaths: [], detectors: [network.intel.detector], onAlert: ({ alert, isNew }) => void (isNew && alerts.push(alert)) });
  detection.stage.onEvents(events);
  detection.stage.tick(Date.parse(events[events.length - 1]!["@timestamp"]) + 3600_000);
  return alerts;
}

describe("agent network wiring", () => {
  const events = labEvents();

  it("runs every flow detector and the store's feeds over flows, and picks up a feed synced later", async () => {
    const db = openStore(join(tempDir(), "hv.db"));
    const network = setUpNetwork({ db, config: {}, live: false, inventory: loadInventoryFile(join(LAB, "lab.inventory.json")), report: () => {} });
    expect(network.collectors).toEqual([]); // replaying: no live collectors

    const before = detect(network, events);
    expect(before.filter((a) => a.rule.id.startsWith("intel:"))).toEqual([]);

    addFeed(db, { name: "lab", url: join(LAB, "lab.feed.txt"), format: "auto", enabled: true, action: "alert" });
    const sync = await syncFeed(db, "lab", { interfaces: false });
    expect(sync.status).toBe("updated");
    expect(network.intel.reload()).toBeGreaterThan(0);

    const after = detect(network, events);
    const byRule = new Map(after.map((a) => [a.rule.id, a]));
    const truth = JSON.parse(readFileSync(join(LAB, "lab.truth.json"), "utf8")) as { attacks: Array<{ kind: string; vm: string }> };
    const ruleOf: Record<string, string> = {
      "port-scan": "flow:port-scan",
      "brute-force": "flow:brute-force",
      beaconing: "flow:beacon",
      "large-outbound": "flow:large-outbound",
      "udp-flood": "flow:udp-flood",
      "feed-hit": "intel:lab",
    };
    for (const attack of truth.attacks) {
      const alert = byRule.get(ruleOf[attack.kind]!);
      expect(alert?.vm?.name, `${attack.kind} by ${attack.vm}`).toBe(attack.vm);
    }
    const intel = byRule.get("intel:lab")!;
    expect(intel.threat).toMatchObject({ feed: "lab", matched: "198.51.100.66", field: "destination.ip" });
    db.close();
  });
});
