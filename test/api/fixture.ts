// A real SQLite store with real rows for the API tests: events, alerts over them, actions in each
// state the API acts on, a quarantine, a feed synced from a local file, and one token per role
// plus a revoked one.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import type { Alert } from "../../src/events/alert.js";
import { createToken, revokeToken, type Role } from "../../src/api/tokens.js";
import { syncFeed } from "../../src/feeds/sync.js";
import { recordBundle } from "../../src/forensics/bundles.js";
import { appendCustody } from "../../src/forensics/custody.js";
import { describeArtifacts, MANIFEST_FORMAT, writeSignedManifest, type Manifest } from "../../src/forensics/manifest.js";
import { loadOrCreateSigningKey } from "../../src/forensics/signing.js";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import { insertAction } from "../../src/store/actions.js";
import { saveAlert } from "../../src/store/alerts.js";
import { enforce } from "../../src/store/enforcements.js";
import { storeBatch } from "../../src/store/events.js";
import { addFeed } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { createResponder, type Responder } from "../../src/playbooks/engine.js";
import { buildActionEnv } from "../../src/playbooks/env.js";
import { createRegistry } from "../../src/playbooks/registry.js";
import { VirshBackend } from "../../src/vm/virsh.js";
import { BASE_MS, envelopes, makeEvent } from "../helpers/events.js";

export interface Fixture {
  dir: string;
  db: Database.Database;
  tokens: Record<Role | "revoked", string>;
  alertIds: number[];
  /** A signed forensic bundle of vm-0, made with src/forensics' own functions. */
  bundleId: string;
  bundleDir: string;
  /** pending actions, one per approve/deny test */
  pendingIds: number[];
  doneActionId: number;
  cleanup(): void;
}

export const RULE_A = "0b1c2d3e-aaaa-4bbb-8ccc-000000000001";
export const RULE_B = "flow:beacon";

export function alertOf(i: number, rule: string, severity: Alert["severity"], vm: string, eventIds: string[]): Alert {
  const seen = new Date(BASE_MS + i * 60_000).toISOString();
  return {
    "@timestamp": seen,
    first_seen: seen,
    last_seen: seen,
    count: 1,
    rule: { id: rule, title: `rule ${rule}`, source: rule.startsWith("flow:") ? "flow" : "sigma" },
    severity,
    mitre: { tactics: [], techniques: [] },
    entity: { kind: "vm", id: vm },
    vm: { name: vm },
    event_ids: eventIds,
    status: "open",
  };
}

export async function makeFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), "hv-api-"));
  const db = openStore(join(dir, "hv.db"));
  // 30 events: evt-0..evt-29 on vm-0..vm-2; evt-20.. are libvirt events.
  const events = Array.from({ length: 30 }, (_, i) => makeEvent(i, i >= 20 ? { event: { module: "libvirt", action: "started" } } : {}));
  storeBatch(db, envelopes(events));
  const alertIds = [
    saveAlert(db, alertOf(1, RULE_A, "high", "vm-1", ["evt-1", "evt-4"])),
    saveAlert(db, alertOf(2, RULE_A, "low", "vm-2", ["evt-2"])),
    saveAlert(db, alertOf(3, RULE_B, "critical", "vm-0", ["evt-3", "evt-6", "evt-9"])),
  ];
  const pendingIds = Array.from({ length: 6 }, (_, i) =>
    insertAction(db, { playbook: "quarantine-critical", action: "quarantine_vm", mode: "interactive", status: "pending", alertId: alertIds[2]!, target: "vm:vm-0", params: { keep: [] }, created: BASE_MS + i }),
  );
  const doneActionId = insertAction(db, { playbook: "snapshot", action: "snapshot_vm", mode: "automatic", status: "done", alertId: alertIds[0]!, target: "vm:vm-1", result: "snapshot taken", created: BASE_MS });
  enforce(db, { kind: "quarantine", target: "vm-0", detail: { taps: ["vnet3"] }, actionId: pendingIds[0], createdBy: "playbook:quarantine-critical", now: BASE_MS });
  enforce(db, { kind: "quarantine", target: "vm-2", detail: { taps: [] }, createdBy: "user:root", now: BASE_MS });

  const feedFile = join(dir, "iocs.txt");
  writeFileSync(feedFile, "# test feed\n192.0.2.10\n198.51.100.0/24\n203.0.113.7\n");
  addFeed(db, validateFeedSpec({ name: "local-iocs", url: feedFile, format: "plain", enabled: true, action: "alert" }));
  const sync = await syncFeed(db, "local-iocs", { interfaces: false });
  if (sync.status !== "updated") throw new Error(`fixture feed sync: ${sync.status} ${sync.reason ?? ""}`);

  const { bundleId, bundleDir } = await makeBundle(dir);

  const tokens = {
    viewer: createToken(db, "view", "viewer").token,
    operator: createToken(db, "oper", "operator").token,
    admin: createToken(db, "adm", "admin").token,
    revoked: createToken(db, "old", "admin").token,
  };
  revokeToken(db, "old");
  createToken(db, "to-delete", "viewer");
  return {
    dir,
    db,
    tokens,
    alertIds,
    bundleId,
    bundleDir,
    pendingIds,
    doneActionId,
    cleanup: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const BUNDLE_ID = "20250101T000000Z-vm-0-abcdef";

/** A bundle as src/forensics writes one: artifacts, a signed manifest, a custody chain, an index entry. */
async function makeBundle(stateDir: string): Promise<{ bundleId: string; bundleDir: string }> {
  const bundleDir = join(stateDir, "forensics", "bundles", BUNDLE_ID);
  mkdirSync(bundleDir, { recursive: true });
  writeFileSync(join(bundleDir, "domain.xml"), "<domain type='qemu'><name>vm-0</name></domain>\n");
  writeFileSync(join(bundleDir, "alerts.jsonl"), JSON.stringify({ id: 3 }) + "\n");
  const key = loadOrCreateSigningKey(stateDir);
  const manifest: Manifest = {
    format: MANIFEST_FORMAT, id: BUNDLE_ID, vm: { name: "vm-0", uuid: "00000000-0000-0000-0000-000000000000" }, by: "user:test", host: "host-a",
    created: "2025-01-01T00:00:00.000Z", completed: "2025-01-01T00:00:01.000Z", hv: { version: "0", node: process.versions.node }, tools: {}, notes: [],
    options: { memory: false, disk: false, pcapSeconds: 0, pause: false }, key: { fingerprint: key.fingerprint },
    artifacts: await describeArtifacts(bundleDir, [{ path: "domain.xml", kind: "domain-xml" }, { path: "alerts.jsonl", kind: "store" }]),
  };
  const digest = await writeSignedManifest(bundleDir, manifest, key);
  appendCustody(bundleDir, { who: "user:test", what: "captured", manifest: digest, host: "host-a" }, key, { stateDir, id: BUNDLE_ID });
  await recordBundle(stateDir, { id: BUNDLE_ID, path: bundleDir, vm: "vm-0", created: manifest.created });
  return { bundleId: BUNDLE_ID, bundleDir };
}

/**
 * The response engine the agent would bind to the API, without playbooks, over libvirt's test
 * driver (its one domain, "test", is running in every new connection: nothing on the host
 * changes). The VM "dc1" is allowlisted.
 */
export function fixtureResponder(f: Fixture): Responder {
  const env = buildActionEnv({ db: f.db, stateDir: f.dir, config: { response: { allowlist: { vms: ["dc1"] } } }, vm: new VirshBackend({ uri: "test:///default" }), log: () => undefined });
  return createResponder({ db: f.db, registry: createRegistry(), playbooks: [], env });
}
